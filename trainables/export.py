"""Which kinds of trainable can hand over a trained trial as a plain torch network (for a model registry).

A kind listed here has a module with `network(config, weights, data_root) -> torch.nn.Module` (its model rebuilt
from the trial's config, its final weights loaded, in eval mode) and `labelled_test_set(config, data_root)`
(the trial's test set as that network takes it: inputs and labels).
"""

from __future__ import annotations

import importlib
from types import ModuleType

# Kind name → the module with its `network` and `labelled_test_set`. The text classifier takes sparse rows
# (an EmbeddingBag's indices and weights), not one tensor: it is not exported.
NETWORKS: dict[str, str] = {
    "image": "trainables.image.network",
}


def exporter(kind: str) -> ModuleType:
    if kind not in NETWORKS:
        raise ValueError(f"trainable {kind!r} cannot be exported as a network; exported: {', '.join(NETWORKS)}")
    return importlib.import_module(NETWORKS[kind])
