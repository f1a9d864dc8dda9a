"""What runs inside a trial: pure PyTorch, no Ray and no MLflow; the kinds of trainable (kinds.py) and what they share."""
