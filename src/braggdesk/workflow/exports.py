"""Every computed quantity out of braggdesk: dose, uncertainty and LETd maps, DVH curves and metrics.

Why one module: the File > Export menu, ``braggdesk export``/``run --export-*`` and the
Python API write the same files through the same functions, so a map or a table read
back in another tool is what the workstation showed.

- Maps (:func:`write_map`): NRRD (``.nrrd``) or MetaImage (``.mhd`` + ``.zraw``) through
  SimpleITK (``pip install braggdesk[export]``), float32, on the CT grid in DICOM patient
  coordinates (LPS, mm: spacing, origin and direction cosines as the CT's), the quantity
  and its unit in the header.  Dose also goes to RTDOSE (io/rtdose.py).
- DVHs (:func:`write_dvh_csv`): one row per structure and dose bin edge, cumulative
  volume in cm3 and percent, exactly the curves the DVH plot draws.
- Metrics (:func:`write_metrics_csv`): one row per structure, the statistics table's columns.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BraggdeskError, OutputError
from ..model import Volume
from .structure_stats import StructureAnalysis

MAP_SUFFIXES = (".nrrd", ".mhd")


@dataclass(frozen=True)
class MapQuantity:
    """A map's name in files and headers, and its unit."""

    key: str  # dose, uncertainty, let
    label: str
    unit: str


QUANTITIES = {
    "dose": MapQuantity("dose", "dose", "Gy"),
    "uncertainty": MapQuantity("uncertainty", "relative statistical uncertainty (1 sigma)", "1 (0.01 = 1 %)"),
    "let": MapQuantity("let", "dose-averaged LET", "keV/um"),
}


def write_map(path: str | Path, values: np.ndarray, grid: Volume, quantity: str = "dose") -> Path:
    """Write ``values`` (``[k, j, i]`` on ``grid``) as NRRD or MHD, chosen by the suffix; returns the path.

    BraggdeskError for an unknown suffix or quantity, or when SimpleITK is missing; OutputError
    when the file cannot be written.
    """
    path = Path(path)
    if path.suffix.lower() not in MAP_SUFFIXES:
        raise BraggdeskError(f"{path}: a map is written as {' or '.join(MAP_SUFFIXES)}, not {path.suffix or 'no suffix'}")
    if quantity not in QUANTITIES:
        raise BraggdeskError(f"unknown map quantity {quantity!r}; expected one of {', '.join(QUANTITIES)}")
    values = np.asarray(values)
    if values.shape != grid.shape:
        raise BraggdeskError(f"{path}: the {quantity} map has shape {values.shape}, its grid {grid.shape}")
    sitk = _simpleitk()
    image = sitk.GetImageFromArray(np.ascontiguousarray(values, dtype=np.float32))  # [k, j, i] -> x = i
    image.SetSpacing(tuple(float(s) for s in grid.spacing_mm))
    image.SetOrigin(tuple(float(o) for o in grid.origin_mm))
    image.SetDirection(tuple(float(v) for v in np.asarray(grid.direction, dtype=float).reshape(-1)))
    q = QUANTITIES[quantity]
    for key, value in (("braggdesk_quantity", q.key), ("braggdesk_label", q.label), ("braggdesk_unit", q.unit),
                       ("braggdesk_frame_of_reference_uid", grid.frame_of_reference_uid or "")):
        image.SetMetaData(key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        sitk.WriteImage(image, str(path), True)  # compressed
    except RuntimeError as exc:
        raise OutputError(path, f"cannot write the {q.label} map ({str(exc).strip().splitlines()[-1]})") from exc
    return path


def read_map(path: str | Path) -> tuple[np.ndarray, tuple, tuple, np.ndarray]:
    """A written map back: (values ``[k, j, i]`` float32, spacing_mm, origin_mm, direction 3x3)."""
    sitk = _simpleitk()
    image = sitk.ReadImage(str(path))
    return (sitk.GetArrayFromImage(image), image.GetSpacing(), image.GetOrigin(),
            np.array(image.GetDirection()).reshape(3, 3))


def write_dvh_csv(path: str | Path, analyses: list[StructureAnalysis]) -> Path:
    """The cumulative DVH of each structure as the DVH plot draws it: columns structure, dose_gy,
    volume_cm3, volume_percent; one row per bin edge."""
    rows = []
    for a in analyses:
        for d, v_cm3, v_pct in zip(a.dvh.bin_edges_gy, a.dvh.cumulative_cm3, a.dvh.cumulative_percent):
            rows.append([a.name, _number(d), _number(v_cm3), _number(v_pct)])
    return _write_csv(path, ["structure", "dose_gy", "volume_cm3", "volume_percent"], rows)


def write_metrics_csv(path: str | Path, analyses: list[StructureAnalysis]) -> Path:
    """The statistics table: one row per structure, its columns (Volume [cm3], Dmean [Gy] ... V95 [%])."""
    columns = list(analyses[0].metrics) if analyses else []
    rows = [[a.name] + [_number(a.metrics[c]) for c in columns] for a in analyses]
    return _write_csv(path, ["structure", *columns], rows)


def _number(value: float) -> str:
    """Full precision (repr round-trips a float exactly); NaN as an empty cell, as spreadsheets expect."""
    value = float(value)
    return "" if not math.isfinite(value) else repr(value)


def _write_csv(path: str | Path, header: list[str], rows: list[list]) -> Path:
    from ..io.safe_write import write_atomically

    def write(target: Path) -> None:
        with open(target, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)

    return write_atomically(Path(path), write, "CSV table")


def _simpleitk():
    try:
        import SimpleITK
    except ImportError:
        raise BraggdeskError("maps are written through SimpleITK, which is not installed: "
                             "pip install 'braggdesk[export]'") from None
    return SimpleITK
