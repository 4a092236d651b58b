"""Reading small text tables (beam models, CT calibrations) with errors that name file and line."""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import InputError


def read_text_lines(path: Path, expected: str, what: str = "the file") -> list[str]:
    """Lines of a UTF-8 text file; ``expected`` and ``what`` name the kind of file, for the messages."""
    if path.is_dir():
        raise InputError(path, f"is a folder; expected {expected}")
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not a text file ({exc.reason} at byte {exc.start}); expected {expected}") from exc
    except OSError as exc:
        raise InputError(path, f"cannot read {what}: {exc.strerror or exc}") from exc


def parse_number(path: Path, line_no: int, text: str, what: str) -> float:
    """A finite float from one field of a table, or an InputError naming the file, line and field."""
    try:
        value = float(text)
    except ValueError:
        raise InputError(path, f"line {line_no}: {what} '{text}' is not a number") from None
    if not math.isfinite(value):
        raise InputError(path, f"line {line_no}: {what} '{text}' is not a finite number")
    return value
