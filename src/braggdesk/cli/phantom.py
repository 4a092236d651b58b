"""``braggdesk phantom``: a built-in phantom as a DICOM CT series with its CT calibration."""

from __future__ import annotations

from pathlib import Path

from ..errors import BraggdeskError
from .options import positive_float


def register(sub) -> None:
    ph = sub.add_parser("phantom", help="write a built-in phantom as a DICOM CT series with its CT calibration")
    ph.add_argument("name", help="water, slab or dcpt")
    ph.add_argument("--out", type=Path, required=True, help="output folder")
    ph.add_argument("--geometry", help="dcpt only: geometry A-G of dcpt-let-2022/docs/geometry.md (default A)")
    ph.add_argument("--spacing", type=positive_float, default=2.0, help="voxel size in mm (default 2)")
    ph.add_argument("--isocenter", help="isocentre x,y,z in mm (default 0,0,0)")
    ph.add_argument("--lateral-mm", metavar="X,Z",
                    help="lateral size in mm (x, z) instead of the phantom's nominal one, e.g. to match the "
                         "External ROI of the CT a planning system used (dcpt nominal: 300,300)")
    ph.add_argument("--plan", type=Path, help="place the phantom at the isocentre of this RT Ion Plan's first beam")
    ph.set_defaults(func=run_phantom)


def parse_xyz(text: str | None) -> tuple[float, float, float]:
    if not text:
        return (0.0, 0.0, 0.0)
    try:
        x, y, z = (float(v) for v in text.split(","))
    except ValueError:
        raise BraggdeskError(f"--isocenter expects x,y,z in mm, got {text!r}") from None
    return (x, y, z)


def run_phantom(args) -> int:
    from ..io.phantoms import PHANTOM_NAMES, make_phantom, write_phantom
    from ..io.safe_write import check_output_folder

    if args.name not in PHANTOM_NAMES:
        raise BraggdeskError(f"unknown phantom {args.name!r}: choose one of {', '.join(PHANTOM_NAMES)}")
    iso = parse_xyz(args.isocenter)
    if args.plan is not None:
        from ..io.rtplan import read_rt_ion_plan

        iso = tuple(read_rt_ion_plan(args.plan).beams[0].isocenter_mm)
    lateral = None
    if args.lateral_mm:
        try:
            lateral = tuple(float(v) for v in args.lateral_mm.split(","))
        except ValueError:
            raise BraggdeskError(f"--lateral-mm expects x,z in mm, got {args.lateral_mm!r}") from None
    try:
        phantom = make_phantom(args.name, geometry=args.geometry, isocenter_mm=iso, spacing_mm=args.spacing,
                               lateral_mm=lateral)
    except ValueError as exc:
        raise BraggdeskError(str(exc)) from None
    if not args.out.is_file():  # a file is refused by write_phantom in its own words
        check_output_folder(args.out, "phantom's CT series")
    files = write_phantom(phantom, args.out)
    print(f"{phantom.description}")
    print(f"wrote {len(files)} files to {args.out} (CT series {phantom.volume.shape[::-1]} voxels, "
          f"spacing {phantom.volume.spacing_mm} mm, isocentre {iso} mm, with ct_calibration.csv)")
    return 0
