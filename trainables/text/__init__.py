"""Multi-label text classification on sparse TF-IDF features: the `text` kind of trainable (kind.py)."""
