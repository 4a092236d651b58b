"""Values as plain JSON types, for every JSON file and summary braggdesk writes.

Why in io/: the command line's summaries, the Planning dock's goals.json and the exports
all write JSON; one conversion here keeps them alike (non-finite floats become null,
which JSON has no other word for).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def json_clean(value: Any) -> Any:
    """Plain JSON types: non-finite floats become null, numpy scalars and paths become numbers and text."""
    if isinstance(value, dict):
        return {str(k): json_clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
