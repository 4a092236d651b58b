"""Reading the physics tables packaged in ``braggdesk.resources`` (one place for the error message)."""

from __future__ import annotations

import csv
import importlib.resources

from braggdesk.errors import InputError

__all__ = ["read_packaged_csv"]


def read_packaged_csv(resource: tuple[str, ...], what: str) -> tuple[str, list[dict[str, str]]]:
    """(path for messages, rows as dicts) of the CSV at ``resources/<resource>``; ``what`` names the table."""
    res = importlib.resources.files("braggdesk.resources").joinpath(*resource)
    path = str(res)
    try:
        text = res.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot read the {what} ({exc}); the package data is incomplete") from exc
    return path, list(csv.DictReader(text.splitlines()))
