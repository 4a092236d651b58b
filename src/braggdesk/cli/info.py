"""``braggdesk info PATH``: what a folder or file of DICOM-RT holds, and whether each object loads.

PATH may also be a CT calibration (a calibration CSV, an MCsquare scanner folder or file, or a
built-in name such as ``schneider``): then ``info`` prints what the engine assigns to each HU
(:mod:`.info_calibration`).

Lines for people on standard output (on standard error when the JSON goes to
standard output); ``--json FILE`` (``-`` for standard output) for machines,
with plain key names that carry their units.  No patient identity in either.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import BraggdeskError, InputError
from .common import write_json


def register(sub) -> None:
    p = sub.add_parser("info", help="what a folder or file holds: CT series, ROIs, plans, doses; or what a CT "
                                    "calibration assigns to each HU")
    p.add_argument("path", help="a folder (searched recursively) or one DICOM file; or a CT calibration: a "
                                "calibration CSV, an MCsquare scanner folder or file, or a built-in name (schneider, "
                                "water, mcsquare_ucl_toshiba)")
    p.add_argument("--json", help="write the inventory as JSON to FILE (- for standard output)")
    p.set_defaults(func=run_info)


def run_info(args) -> int:
    from ..workflow.workspace import Workspace
    from .info_calibration import is_calibration

    out = sys.stderr if args.json == "-" else sys.stdout
    _check_openable(Path(args.path))
    if is_calibration(args.path):
        return _run_calibration_info(args.path, args.json, out)
    inventory = Workspace.open(Path(args.path)).inventory  # the folder index the loaders use
    add_roi_volumes(inventory)
    print("\n".join(describe(inventory)), file=out)
    write_json(inventory.as_dict(), args.json)
    return 0


def _check_openable(path: Path) -> None:
    """A named pipe, socket or device is refused before anything opens it (reading a pipe waits for ever)."""
    from ..io.inventory import special_file_kind

    if path.exists() and not (path.is_dir() or path.is_file()):
        raise InputError(path, f"is {special_file_kind(path)}, not a regular file or folder; only regular files are "
                               f"read")


def _run_calibration_info(arg: str, json_target: str | None, out) -> int:
    from ..io.ct_calibration import read_ct_calibration
    from .info_calibration import calibration_report, describe_calibration

    calibration = read_ct_calibration(arg if not Path(arg).exists() else Path(arg))
    report = calibration_report(calibration)
    print("\n".join(describe_calibration(report)), file=out)
    write_json(report, json_target)
    return 0


def add_roi_volumes(inventory) -> None:
    """Fill ``RoiSummary.volume_cm3`` from the polygons (no CT needed); a broken RTSTRUCT keeps its problem line."""
    from ..io.rtstruct import read_rtstruct

    for summary in inventory.structure_sets:
        if summary.problem:
            continue
        try:
            structure_set = read_rtstruct(Path(inventory.root) / summary.file)
        except BraggdeskError as exc:
            summary.problem = str(exc)
            continue
        volumes = {roi.number: _volume_or_none(roi) for roi in structure_set.rois if not roi.is_point}
        for roi in summary.rois:
            roi.volume_cm3 = volumes.get(roi.number)


def _volume_or_none(roi) -> float | None:
    """The ROI's volume, or None (shown as ?) where it has none without a grid: a single plane, a non-axial contour."""
    from ..analysis.rasterize import roi_volume_cm3

    try:
        return roi_volume_cm3(roi)
    except BraggdeskError:
        return None


def describe(inventory) -> list[str]:
    """The inventory as short lines for a terminal."""
    lines = [f"{inventory.path or inventory.root}:"]
    for s in inventory.ct_series:
        spacing = "x".join(f"{v:g}" for v in s.spacing_mm) + " mm" if s.spacing_mm else "irregular spacing"
        lines.append(f"  CT series {s.series_instance_uid} {s.description!r}: {s.size[0]}x{s.size[1]}x{s.size[2]} "
                     f"voxels, {spacing}, {s.orientation}")
        lines += [f"    note: {n}" for n in s.notes] + [f"    PROBLEM: {p}" for p in s.problems]
    for ss in inventory.structure_sets:
        lines.append(f"  RTSTRUCT {ss.file} {ss.label!r}: {len(ss.rois)} ROIs")
        for roi in ss.rois:
            volume = "?" if roi.volume_cm3 is None else f"{roi.volume_cm3:.2f}"
            lines.append(f"    {roi.number:3d} {roi.name} ({roi.roi_type or 'no type'}): {roi.n_contours} contours, "
                         f"{volume} cm3")
        if ss.problem:
            lines.append(f"    PROBLEM: {ss.problem}")
    for plan in inventory.plans:
        if plan.problem:
            lines.append(f"  RT Ion Plan {plan.file}: PROBLEM: {plan.problem}")
            continue
        lines.append(f"  RT Ion Plan {plan.file} {plan.label!r}: {len(plan.beams)} beams, {plan.total_mu:g} MU, "
                     f"{plan.fractions} fractions")
        for b in plan.beams:
            shifters = f", range shifter {'+'.join(b.range_shifters)}" if b.range_shifters else ""
            lines.append(f"    beam {b.number} {b.name!r}: gantry {b.gantry_angle_deg:g} couch {b.couch_angle_deg:g} deg, "
                         f"{b.layers} layers {b.energy_min_mev:g}-{b.energy_max_mev:g} MeV, {b.spots} spots, "
                         f"{b.mu:g} MU{shifters}")
    for d in inventory.doses:
        if d.problem:
            lines.append(f"  RTDOSE {d.file}: PROBLEM: {d.problem}")
            continue
        peak = "relative" if d.max_dose_gy is None else f"max {d.max_dose_gy:.4g} Gy"
        lines.append(f"  RTDOSE {d.file}: {d.dose_type} {d.summation}, {d.size[0]}x{d.size[1]}x{d.size[2]} voxels of "
                     f"{'x'.join(f'{v:g}' for v in d.spacing_mm)} mm, {peak}")
    for what, count in inventory.other_objects.items():
        lines.append(f"  {count} x {what}")
    if inventory.non_dicom_files:
        lines.append(f"  {inventory.non_dicom_files} non-DICOM files")
    for name in inventory.unreadable_files:  # one line each, with the reason: the words run would use
        why = inventory.file_problems.get(name, "")
        lines.append(f"  {name}: PROBLEM: {why}" if why else f"  unreadable DICOM file: {name}")
    return lines
