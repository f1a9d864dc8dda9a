"""The code hash of any trainable a trial config names (tag sweeps.code_hash).

A built-in kind's is `trainables.code.code_hash`. A training function's (or a registered kind's) is of
the module file that holds its training function, as its tokens (comments and docstrings left out, as
for the built-ins): editing that file makes its recorded runs stale; the modules it imports are not
covered.
"""

from __future__ import annotations

import hashlib

from trainables.code import code_hash, source_tokens
from trainables.function.resolve import module_file, trainable_kind
from trainables.kinds import KINDS


def trainable_code_hash(name: str) -> str:
    """12 hex digits: the hash of the code that trains trials of trainable `name`."""
    if name in KINDS:
        return code_hash(name)
    path = module_file(trainable_kind(name))
    digest = hashlib.sha256(b"module\0" + source_tokens(path.read_text(encoding="utf-8")).encode())
    return digest.hexdigest()[:12]
