"""JSON that every parser accepts: no NaN or Infinity, which Python writes by default.

A non-finite float reaching output means a number from outside (a price, a usage report)
slipped past validation; writing `Infinity` would also break every consumer of the JSON,
so such a value is written as null (unknown) instead.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(obj: Any) -> Any:
    """`obj` with every non-finite float (at any depth) replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def tidy(obj: Any) -> Any:
    """`obj` with every float (at any depth) cut to 15 significant digits: a sum of costs
    written as 0.006815000000000001 is 0.006815. The noise a float sum adds sits in the 17th
    digit; a figure shown to people or scripts never means anything past the 15th."""
    if isinstance(obj, float):
        return float(f"{obj:.15g}") if math.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {k: tidy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [tidy(v) for v in obj]
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """json.dumps that never writes NaN/Infinity (they become null)."""
    kwargs["allow_nan"] = False
    return json.dumps(finite(obj), **kwargs)


def number(value: Any) -> float | None:
    """`value` as a finite float when a JSON file read back holds a real number there (not a
    bool, a string or NaN), else None: chatroute's own state files can be edited or damaged."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    as_float = float(value)
    return as_float if math.isfinite(as_float) else None
