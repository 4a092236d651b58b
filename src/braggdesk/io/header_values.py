"""Header values read and checked in one place: a number, finite, in range, or an InputError that says so.

Why: a DICOM header value is text until someone converts it, and a bare
``float(ds.SliceThickness)`` on ``'thick'`` is a traceback, while a parsed
``-1`` or ``nan`` flows on into "-1x-1x5 mm" or "max nan Gy".  Every reader
(the ``info`` scan, the GUI loader and ``run`` share them) takes its numbers
through these functions, so a bad value gives the same one line everywhere:
the file, the tag by number and keyword, the value found and what was expected::

    CT0007.dcm: PixelSpacing (0028,0030) ['0', '0.98']: 0 is not above 0; expected the pixel size in mm

Limits are wide (what any scanner or planning system writes), meant to catch
corruption and unit mix-ups, not unusual but real values.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from braggdesk.errors import InputError

# patient coordinates and distances beyond 10 m are corrupt values, not anatomy
MAX_COORDINATE_MM = 1e4
_UNIT_VECTOR_TOLERANCE = 1e-3


def tag_name(keyword: str) -> str:
    """'PixelSpacing (0028,0030)': the keyword with its tag number, as messages name a tag."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        return keyword
    return f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _raw(ds: Dataset, keyword: str) -> Any:
    """The element's value, or None when absent or empty; a value pydicom cannot even convert comes back as text."""
    try:
        value = ds.get(keyword)
    except Exception:  # pydicom converts lazily: a value that breaks its VR can raise here
        element = ds.get_item(keyword) if keyword in ds else None
        value = None if element is None else element.value
    if value is None or (isinstance(value, (str, bytes)) and not value.strip()):
        return None
    if isinstance(value, (list, tuple)) or (hasattr(value, "__iter__") and not isinstance(value, (str, bytes))):
        if len(value) == 0:
            return None
    return value


def _shown(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    if isinstance(value, str):
        return repr(value[:40])
    if hasattr(value, "__iter__"):
        items = list(value)
        shown = [str(v) for v in items[:6]] + (["..."] if len(items) > 6 else [])
        return "[" + ", ".join(shown) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def header_floats(ds: Dataset, keyword: str, path: str | Path, *, count: int | None = None,
                  required: bool = False, positive: bool = False, non_negative: bool = False,
                  low: float | None = None, high: float | None = None, what: str = "",
                  where: str = "") -> np.ndarray | None:
    """The element's numbers as a float array, checked; None when absent (InputError if ``required``).

    Every value must be a finite number; ``count`` fixes how many; ``positive``,
    ``non_negative``, ``low`` and ``high`` bound each one.  ``what`` says in words
    what the value is (the hint at the end of the message); ``where`` the place in
    the file (e.g. "beam 'G90', control point 4") for a value inside a sequence.
    """
    return values_checked(_raw(ds, keyword), keyword, path, count=count, required=required, positive=positive,
                          non_negative=non_negative, low=low, high=high, what=what, where=where)


def values_checked(value: Any, keyword: str, path: str | Path, *, count: int | None = None, required: bool = False,
                   positive: bool = False, non_negative: bool = False, low: float | None = None,
                   high: float | None = None, what: str = "", where: str = "") -> np.ndarray | None:
    """:func:`header_floats` for a value already taken from a dataset."""
    hint = f"; expected {what}" if what else ""
    at = f"{where}: " if where else ""
    if value is None or (isinstance(value, (str, bytes)) and not value.strip()):
        if required:
            raise InputError(path, f"{at}has no {tag_name(keyword)}{hint}")
        return None
    items = list(value) if hasattr(value, "__iter__") and not isinstance(value, (str, bytes)) else [value]
    if isinstance(value, (str, bytes)) and "\\" in str(value):
        items = str(value).split("\\")
    numbers = []
    for item in items:
        try:
            number = float(item.decode("latin-1") if isinstance(item, bytes) else item)
        except (TypeError, ValueError):
            raise InputError(path, f"{at}{tag_name(keyword)} {_shown(value)}: {_shown(item)} is not a number"
                                   f"{hint}") from None
        numbers.append(number)
    if count is not None and len(numbers) != count:
        raise InputError(path, f"{at}{tag_name(keyword)} {_shown(value)}: {len(numbers)} value"
                               f"{'s' if len(numbers) != 1 else ''}, expected {count}{hint}")
    for number in numbers:
        problem = _out_of_range(number, positive=positive, non_negative=non_negative, low=low, high=high)
        if problem:
            raise InputError(path, f"{at}{tag_name(keyword)} {_shown(value)}: {number:g} {problem}{hint}")
    return np.asarray(numbers, dtype=float)


def header_float(ds: Dataset, keyword: str, path: str | Path, **checks) -> float | None:
    """One number (see :func:`header_floats`); None when absent."""
    values = header_floats(ds, keyword, path, count=1, **checks)
    return None if values is None else float(values[0])


def header_int(ds: Dataset, keyword: str, path: str | Path, *, required: bool = False, low: int | None = None,
               high: int | None = None, what: str = "", where: str = "") -> int | None:
    """A whole number (IS, US, UL or text), checked; None when absent (InputError if ``required``)."""
    return whole_number(_raw(ds, keyword), keyword, path, required=required, low=low, high=high, what=what,
                        where=where)


def whole_number(value: Any, keyword: str, path: str | Path, *, required: bool = True, low: int | None = None,
                 high: int | None = None, what: str = "", where: str = "") -> int | None:
    """:func:`header_int` for a value already taken from a dataset (a BeamNumber, an ROINumber)."""
    checked = values_checked(value, keyword, path, count=1, required=required, low=low, high=high, what=what,
                             where=where)
    if checked is None:
        return None
    if checked[0] != int(checked[0]):
        raise InputError(path, f"{where + ': ' if where else ''}{tag_name(keyword)} {checked[0]:g} is not a whole "
                               f"number" + (f"; expected {what}" if what else ""))
    return int(checked[0])


def number(value: Any, keyword: str, path: str | Path, **checks) -> float:
    """One required value already taken from a dataset (an item of a sequence), checked like :func:`header_floats`."""
    return float(values_checked(value, keyword, path, count=1, required=True, **checks)[0])  # type: ignore[index]


def _out_of_range(value: float, *, positive: bool, non_negative: bool, low: float | None,
                  high: float | None) -> str:
    if not math.isfinite(value):
        return "is not a finite number"
    if positive and value <= 0:
        return "is not above 0"
    if non_negative and value < 0:
        return "is negative"
    if low is not None and value < low:
        return f"is below {low:g}"
    if high is not None and value > high:
        return f"is above {high:g}"
    return ""


def check_orientation(orientation: np.ndarray, path: str | Path, keyword: str = "ImageOrientationPatient") -> None:
    """Two direction cosines of unit length at right angles, or an InputError naming the values."""
    row, col = orientation[:3], orientation[3:6]
    shown = "[" + ", ".join(f"{v:g}" for v in orientation) + "]"
    for name, vector in (("row", row), ("column", col)):
        if abs(float(np.linalg.norm(vector)) - 1.0) > _UNIT_VECTOR_TOLERANCE:
            raise InputError(path, f"{tag_name(keyword)} {shown}: the {name} direction has length "
                                   f"{float(np.linalg.norm(vector)):.4g}; expected two unit vectors")
    if abs(float(np.dot(row, col))) > _UNIT_VECTOR_TOLERANCE:
        raise InputError(path, f"{tag_name(keyword)} {shown}: the row and column directions are not at right angles "
                               f"(cosine {float(np.dot(row, col)):.4g}); expected two perpendicular unit vectors")
