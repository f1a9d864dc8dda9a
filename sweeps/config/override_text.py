"""A value written in Hydra's override grammar, so that Hydra parses back exactly that value.

JSON is not that grammar: Hydra reads `"caf\\u00e9\\n"` as the nine characters written, so a string is
single-quoted instead, with Hydra's escapes (a quote, and backslashes before a quote or the closing quote).
"""

from __future__ import annotations

import re
from typing import Any

_BEFORE_QUOTE = re.compile(r"(\\*)('|$)")  # backslashes Hydra reads as escapes: those before a quote or the end


def override_value(value: Any) -> str:
    """`value` (a scalar, list or dict as OmegaConf holds them) as the text after `key=` in an override."""
    if isinstance(value, str):
        return "'" + _BEFORE_QUOTE.sub(lambda m: m[1] * 2 + ("\\'" if m[2] else ""), value) + "'"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)  # 0.001, 1e-05, inf, nan: all read back by Hydra as the same number
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(override_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {override_value(item)}" for key, item in value.items()) + "}"
    raise TypeError(f"no override text for {type(value).__name__}")
