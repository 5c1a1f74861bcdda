"""Reading the JSON records a run writes (summary.json, an index's entries, horizon.json, profile.json): a
value by dotted key, and what counts as a number there. Kept apart from rundir, which imports PyTorch, so
the report and the sweeps read records without it.
"""

from __future__ import annotations

import math


def field(record: dict, key: str):
    """A value by dotted key (`baseline.recall_accuracy`); a flat key holding dots is found as it is."""
    if key in record:
        return record[key]
    value = record
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def number(value) -> bool:
    """A finite JSON number: an int or a float, not true or false (which Python counts as ints), nor NaN or
    Infinity (JSON's extensions, read as floats, which would be shown as nan or inf)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
