"""Reading the data files packaged in ``braggdesk.resources`` (one reader, one error message).

Every physics table is a CSV file in ``resources/`` listed in ``resources/index.csv``; lines
starting with ``#`` carry its source and licence and are skipped, the first other line names the
columns.  Errors name the file and the line.
"""

from __future__ import annotations

import csv
import importlib.resources
from pathlib import Path

from braggdesk.errors import InputError

__all__ = ["read_csv_rows", "read_packaged_csv", "resource_path"]


def resource_path(relative: str) -> Path:
    """Path of a file shipped in ``braggdesk/resources/`` (``relative`` uses forward slashes)."""
    return Path(str(importlib.resources.files("braggdesk.resources"))).joinpath(*relative.split("/"))


def read_csv_rows(path: str | Path, what: str) -> list[tuple[int, dict[str, str]]]:
    """Rows of the CSV file at ``path`` as dicts, each with its 1-based line number.

    ``#`` comment lines and blank lines are skipped; the first remaining line is the header.
    ``what`` names the table in error messages ("the element table").
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read {what} ({exc}); the package data is incomplete") from exc
    numbered = [(i + 1, line) for i, line in enumerate(text.splitlines())
                if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise InputError(path, f"no header line found; expected {what} as a CSV table")
    header = [h.strip() for h in next(csv.reader([numbered[0][1]]))]
    rows = []
    for line_no, line in numbered[1:]:
        values = next(csv.reader([line]))
        if len(values) > len(header):
            raise InputError(path, f"line {line_no}: {len(values)} fields for {len(header)} columns in {what}")
        rows.append((line_no, dict(zip(header, values + [""] * (len(header) - len(values))))))
    return rows


def read_packaged_csv(resource: tuple[str, ...], what: str) -> tuple[str, list[dict[str, str]]]:
    """(path for messages, rows as dicts) of the CSV at ``resources/<resource>``; ``what`` names the table."""
    path = resource_path("/".join(resource))
    return str(path), [row for _, row in read_csv_rows(path, what)]
