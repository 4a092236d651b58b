"""DCPT beam-model CSV files.

**DCPT CSV** (``DCPT_beam_model__v2.csv``, ``__v5.csv``; Danish Centre for Particle Therapy,
APTG/2022_DCPT_LET, CC BY 4.0).  Comment lines start with ``#``; one of them reads
``BMODPOS 500.0 mm`` -- the distance of the model plane upstream of the isocentre.  Data rows
have 10 comma-separated columns: nominal energy [MeV], real (mean) energy [MeV], energy spread
1 sigma [MeV], protons/MU, sigma x, sigma y [mm], divergence x', y' [rad], correlation xx', yy'.
Numbers such as ``0.0061000000000000000001`` are plain floats.  The comment "x/y reversed in
Exp. Room" concerns the experimental room only and is ignored.  The file has no source
position: :data:`DCPT_VSAD_MM` = (2000, 2560) mm, the virtual source-axis distances in the
DCPT treatment plans, is used.  The DCPT 3 cm Lexan range shifter ``RS_3CM`` is attached
(:func:`dcpt_range_shifters`), so DCPT plans that name it find it.  The format has no second
Gaussian (its README lists these 10 columns only, "source type: emittance"), so DCPT models
are single Gaussian (``weight2`` = 0).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from braggdesk.errors import InputError
from braggdesk.model.beam_model import BeamModel, RangeShifter
from braggdesk.physics.library import get_material

from .beam_model_checks import check_energies, model_errors_as_input_errors, number, read_lines

# Virtual source-axis distances (x, y) of the DCPT plans (RT Ion Plan VirtualSourceAxisDistances).
DCPT_VSAD_MM = (2000.0, 2560.0)

DCPT_COLUMNS = [
    "nominal_energy_mev", "mean_energy_mev", "energy_spread_mev", "protons_per_mu", "sigma_x_mm", "sigma_y_mm",
    "divergence_x_rad", "divergence_y_rad", "correlation_x", "correlation_y",
]

def dcpt_range_shifters() -> dict[str, RangeShifter]:
    """DCPT's 3 cm Lexan (polycarbonate, 1.20 g/cm3) range shifter, ``RS_3CM``.

    Source: dcpt-let-2022 ``docs/geometry.md`` (3 cm LEXAN slab, centre 13.59 cm upstream of
    the isocentre in plan 06 / geometry F; 17.38 cm in plan 07 -- the distance follows the
    snout, so a plan's IsocenterToRangeShifterDistance should win) and plan 06's RT Ion Plan
    (RangeShifterID RS_3CM, IsocenterToRangeShifterDistance 135.9 mm,
    RangeShifterWaterEquivalentThickness 34.3 mm).
    """
    return {"RS_3CM": RangeShifter(identifier="RS_3CM", material="Lexan", thickness_mm=30.0,
                                   isocenter_distance_mm=135.9, water_equivalent_thickness_mm=34.3,
                                   composition=get_material("Lexan"))}


def read_dcpt_beam_model(path: str | Path) -> BeamModel:
    """Read a DCPT beam-model CSV (format in the module docstring)."""
    path = Path(path)
    lines = read_lines(path)
    title, plane_mm = None, None
    rows: list[list[float]] = []
    row_lines: list[int] = []
    for line_no, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            text = stripped.lstrip("#").split(",")[0].strip().strip('"').strip()
            match = re.search(r"BMODPOS\s+([-+0-9.eE]+)\s*mm", text)
            if match:
                plane_mm = number(path, line_no, match.group(1), "BMODPOS")
            elif title is None and text:
                title = text
            continue
        fields = [f.strip() for f in stripped.split(",")]
        while fields and fields[-1] == "":
            fields.pop()
        if len(fields) != len(DCPT_COLUMNS):
            raise InputError(path, f"line {line_no}: {len(fields)} columns, expected {len(DCPT_COLUMNS)} "
                                   f"({', '.join(DCPT_COLUMNS)})")
        rows.append([number(path, line_no, f, name) for f, name in zip(fields, DCPT_COLUMNS)])
        row_lines.append(line_no)
    if plane_mm is None:
        raise InputError(path, "no 'BMODPOS <distance> mm' comment line: the model plane's distance upstream "
                               "of the isocentre is unknown")
    if not rows:
        raise InputError(path, "no data rows; expected one row of 10 numbers per nominal energy")
    table = np.array(rows)
    check_energies(path, table[:, 0])
    with model_errors_as_input_errors(path, table[:, 0], np.array(row_lines), {}):
        return BeamModel(
            name=f"{title or 'DCPT beam model'} ({path.name})",
            **{name: table[:, i] for i, name in enumerate(DCPT_COLUMNS)},
            reference_plane_to_isocenter_mm=plane_mm,
            virtual_source_axis_distance_mm=DCPT_VSAD_MM,
            range_shifters=dcpt_range_shifters(),
            source_path=str(path),
        )
