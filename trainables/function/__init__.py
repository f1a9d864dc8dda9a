"""Training functions of the user's own: `trainable: MODULE:FUNCTION` in a trial config, or a kind an
installed package registers under the entry point group `sweeps.trainables` (docs/training-functions.md).
"""
