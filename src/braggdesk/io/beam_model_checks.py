"""What both beam-model readers share: reading the file's lines, and turning bad values into errors that
name the file and the line (the formats themselves: :mod:`.beam_model_dcpt`, :mod:`.beam_model_bdl`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from braggdesk.errors import InputError
from braggdesk.model.beam_model import BeamModelError

from .text_files import parse_number, read_text_lines

number = parse_number


def read_lines(path: Path) -> list[str]:
    return read_text_lines(path, "a beam-model file (MCsquare BDL or DCPT CSV)", "the beam model")


def check_energies(path: Path, energies: np.ndarray) -> None:
    if np.any(energies <= 0):
        raise InputError(path, f"nominal energy {energies[energies <= 0][0]:g} MeV is not positive")
    unique, counts = np.unique(energies, return_counts=True)
    if np.any(counts > 1):
        raise InputError(path, f"nominal energy {unique[counts > 1][0]:g} MeV appears more than once")


@contextmanager
def model_errors_as_input_errors(path: Path, energies_mev: np.ndarray, line_of_row: np.ndarray,
                                  labels: dict[str, str]) -> Iterator[None]:
    """Turn the model's range checks into InputErrors naming the file, the line and the file's column."""
    try:
        yield
    except BeamModelError as exc:
        rows = np.flatnonzero(energies_mev == exc.nominal_energy_mev)
        where = f"line {line_of_row[rows[0]]}: " if rows.size else ""
        raise InputError(path, where + exc.describe(labels.get(exc.field_name))) from None
