"""``braggdesk convert``: foreign anatomy formats to a DICOM CT series and RTSTRUCT.

``convert openkbp SRC --out DIR`` writes an OpenKBP case (CSV) as DICOM, reads
it back and reports each structure's volume from the written contours next to
the source mask's voxel count, so a wrong conversion cannot pass unnoticed.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BraggdeskError
from .common import write_json

FORMATS = ("openkbp",)


def register(sub) -> None:
    c = sub.add_parser("convert", help="convert foreign anatomy (OpenKBP CSV) to a DICOM CT series and RTSTRUCT")
    c.add_argument("format", choices=FORMATS, help="source format")
    c.add_argument("source", type=Path, help="source case folder (OpenKBP: pt_N with ct.csv)")
    c.add_argument("--out", type=Path, required=True, help="output folder (empty or new)")
    c.add_argument("--json", help="write the structure volumes as JSON to FILE (- for standard output)")
    c.set_defaults(func=run_convert)


def run_convert(args) -> int:
    import sys

    from ..analysis.rasterize import roi_volume_cm3
    from ..io.dicom_ct import read_ct_series
    from ..io.openkbp import DERIVED_NOTE, read_openkbp, write_openkbp_dicom
    from ..io.rtstruct import read_rtstruct

    from ..io.safe_write import check_output_folder

    case = read_openkbp(args.source)
    if not args.out.is_file():  # a file is refused by the writer in its own words
        check_output_folder(args.out, "DICOM CT series and RTSTRUCT")
    ct_paths, rs_path = write_openkbp_dicom(case, args.out)
    ct = read_ct_series(args.out)
    structures = read_rtstruct(rs_path)
    voxel_cm3 = ct.voxel_volume_cm3
    rows = []
    for roi in structures.rois:
        voxels = int(case.masks[roi.name].sum())
        rows.append({"name": roi.name, "type": roi.roi_type, "mask_voxels": voxels,
                     "mask_volume_cm3": round(voxels * voxel_cm3, 4),
                     "contour_volume_cm3": round(roi_volume_cm3(roi, ct.spacing_mm[2]), 4)})
    bad = [r["name"] for r in rows if abs(r["contour_volume_cm3"] - r["mask_volume_cm3"]) > 1e-3 * max(
        1.0, r["mask_volume_cm3"])]
    out = sys.stderr if args.json == "-" else sys.stdout
    print(f"OpenKBP {case.name} ({DERIVED_NOTE})", file=out)
    print(f"CT {ct.shape[2]} x {ct.shape[1]} x {ct.shape[0]} voxels of {ct.spacing_mm} mm: {len(ct_paths)} slices; "
          f"structures: {rs_path.name}", file=out)
    print(f"{'ROI':<14}{'type':<10}{'voxels':>9}{'mask cm3':>12}{'contour cm3':>13}", file=out)
    for r in rows:
        print(f"{r['name']:<14}{r['type']:<10}{r['mask_voxels']:>9}{r['mask_volume_cm3']:>12.2f}"
              f"{r['contour_volume_cm3']:>13.2f}", file=out)
    write_json({"case": case.name, "out": str(args.out), "rtstruct": str(rs_path), "ct_slices": len(ct_paths),
                "spacing_mm": list(ct.spacing_mm), "structures": rows, "derived_from": DERIVED_NOTE}, args.json)
    if bad:
        raise BraggdeskError(f"structures read back with other volumes than their masks: {', '.join(bad)}")
    return 0
