"""``braggdesk info CALIBRATION``: what the engine assigns to each HU of a CT calibration.

A calibration is a braggdesk calibration CSV, an MCsquare scanner folder or one of its two files,
or a built-in name (``schneider``, ``water``, ``mcsquare_ucl_toshiba``).  The table shows, at round
HU values, at every density point and on both sides of every material boundary, the density, the
material, the relative stopping power and the radiation length the transport uses -- computed by
the engine's own function (:func:`braggdesk.physics.calibration.voxel_media`), so a physicist can
check a calibration before a run, and compare it with another engine's (RSP at 100 MeV).
"""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["calibration_report", "describe_calibration", "is_calibration"]


def is_calibration(arg: str) -> bool:
    """True when ``braggdesk info ARG`` means a CT calibration rather than DICOM files."""
    from ..io.ct_calibration import (CALIBRATION_CSV_NAME, MCSQUARE_DENSITY_FILE, MCSQUARE_MATERIAL_FILE,
                                     available_calibrations)

    path = Path(arg)
    if not path.exists():
        return arg.strip().lower() in available_calibrations()
    if path.is_file():
        return path.name in (MCSQUARE_DENSITY_FILE, MCSQUARE_MATERIAL_FILE) or path.suffix.lower() == ".csv"
    has_dicom_names = any(p.suffix.lower() == ".dcm" for p in path.iterdir() if p.is_file())
    scanner = (path / MCSQUARE_DENSITY_FILE).is_file() and (path / MCSQUARE_MATERIAL_FILE).is_file()
    return scanner or ((path / CALIBRATION_CSV_NAME).is_file() and not has_dicom_names)


def calibration_report(calibration) -> dict:
    """Everything ``info`` shows, as plain data (the JSON document)."""
    from ..physics.calibration import calibration_points
    from ..physics.material_constants import material_constants

    constants = material_constants(calibration.materials)
    materials = []
    for k, material in enumerate(calibration.materials):
        materials.append({
            "name": material.name,
            "hu_min": float(calibration.material_hu_min[k]),
            "nominal_density_g_cm3": float(material.density_g_cm3),
            "rsp_per_g_cm3": float(constants.mass_rsp[k]),
            "i_value_ev": None if material.stopping_power_table else float(constants.i_value_ev[k]),
            "radiation_length_g_cm2": float(constants.radiation_length_g_cm2[k]),
            "stopping_power_source": constants.stopping_power_sources[k],
        })
    points = [{
        "hu": p.hu, "density_g_cm3": p.density_g_cm3, "material": p.material, "rsp": p.rsp,
        "radiation_length_mm": p.radiation_length_mm if math.isfinite(p.radiation_length_mm) else None,
        "density_extrapolated": p.extrapolated,
    } for p in calibration_points(calibration)]
    return {
        "calibration": calibration.name,
        "source": calibration.source_path,
        "notes": list(calibration.notes),
        "rsp_reference": "linear stopping power relative to liquid water (ICRU 90, I = 78 eV) at 100 MeV",
        "density_table": {"hu": [float(h) for h in calibration.density_hu],
                          "density_g_cm3": [float(r) for r in calibration.density_g_cm3]},
        "materials": materials,
        "points": points,
    }


def describe_calibration(report: dict) -> list[str]:
    """The report as lines for a terminal."""
    table = report["density_table"]
    n_points, n_materials = len(table["hu"]), len(report["materials"])
    lines = [f"CT calibration {report['calibration']!r} ({report['source']}): {n_points} density "
             f"point{'s' if n_points != 1 else ''} (HU {table['hu'][0]:g} to {table['hu'][-1]:g}), "
             f"{n_materials} material{'s' if n_materials != 1 else ''}"]
    lines += [f"  note: {n}" for n in report["notes"]]
    lines.append(f"  RSP: {report['rsp_reference']}")
    lines.append(f"  {'HU':>7} {'g/cm3':>8}  {'material':<30} {'RSP':>7} {'X0 mm':>9}")
    for p in report["points"]:
        x0 = "inf" if p["radiation_length_mm"] is None else f"{p['radiation_length_mm']:.4g}"
        flag = "  (density extrapolated)" if p["density_extrapolated"] else ""
        lines.append(f"  {p['hu']:>7g} {p['density_g_cm3']:>8.4g}  {p['material']:<30.30} {p['rsp']:>7.4f} {x0:>9}{flag}")
    lines.append("  materials (RSP and X0 per g/cm3 of density):")
    for m in report["materials"]:
        lines.append(f"    HU >= {m['hu_min']:<7g} {m['name']:<30.30} RSP/rho {m['rsp_per_g_cm3']:.4f}  "
                     f"X0 {m['radiation_length_g_cm2']:.4g} g/cm2  ({m['stopping_power_source']})")
    return lines
