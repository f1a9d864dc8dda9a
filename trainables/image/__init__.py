"""Image classification on in-memory tensors with layer-list models: the `image` kind of trainable (kind.py)."""
