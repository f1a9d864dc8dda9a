"""The offline stand-ins of the image data sets, built without a download (docs/data.md)."""
