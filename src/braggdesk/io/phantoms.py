"""Built-in phantoms: a CT volume plus the calibration that says what its HU are.

Beam geometry convention (all phantoms): a beam at gantry 0, couch 0 travels
along +y in DICOM patient coordinates (IEC: source above a supine HFS patient,
beam anterior -> posterior), so *depth* runs along +y, the array's row index.
The entrance surface faces -y.  Depths below are measured along +y from the
isocentre (negative = upstream), in mm; ``isocenter_mm`` places the isocentre.

Every phantom is a box of slabs perpendicular to y, centred laterally (x, z)
on the isocentre, with at least 10 mm of air around it on every side so a
beam from any gantry angle enters from air.  Voxels hold one material each
(no partial volumes).  Slab boundaries are put on voxel boundaries: the grid
along y is anchored on one boundary (the entrance surface, or the upstream face
of the DCPT detector plate) and any other boundary that is not a whole number
of voxels away is moved to the nearest voxel boundary (halves go downstream);
``Phantom.slabs`` holds the extents as built and the description says where
they differ from the nominal ones.

* ``water``: 200 (x) x 300 (y, depth) x 200 (z) mm water; entrance surface
  100 mm upstream of the isocentre (isocentre at 10 cm depth).
* ``slab``: the same water box with a 20 mm cortical bone slab at 20-40 mm
  depth and a 30 mm lung slab at 60-90 mm depth (isocentre at 100 mm depth, in
  water).  Compositions: MCsquare's Bone_Cortical and Lung (ICRU tissues;
  K. Souris et al., Med. Phys. 43 (2016) 1700), densities 1.92 and 0.26 g/cm3.
* ``dcpt``: the DCPT LET-2022 slab phantom (dcpt-let-2022 docs/geometry.md):
  300 x 300 mm Gammex Solid Water HE (1.032 g/cm3; composition of the non-HE
  Solid Water, docs/materials.md) with a 5 mm PMMA detector plate (1.19 g/cm3),
  205 mm along the beam; ``geometry`` "A".."G" sets the slab extents relative
  to the isocentre.  The 3 cm Lexan range shifter of geometries F and G is part
  of the beam line (plan + beam model), not of this CT.  With 2 mm voxels the
  5 mm plate cannot be represented; use ``spacing_mm=(2.0, 0.5, 2.0)`` (or 1.0,
  or 2.5 mm for A, B, D) for exact plate positions.

Written (:func:`write_phantom`) a phantom is a CT series, an RT Structure Set
(the outline as EXTERNAL, one ROI per material, and whatever a caller adds,
such as the demo's target) and the CT calibration.

HU used: air -1000, water 0, lung -740, bone 1200, Solid Water HE 20, PMMA 120.
Each phantom's calibration has density points exactly at those HU (np.interp
is exact there) and material sections whose bounds lie halfway between them.
I-values and stopping powers are the material library's (PMMA 74 eV, air 85.7 eV, water 78 eV, Solid
Water HE by Bragg additivity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from braggdesk.model import CtCalibration, Material, Roi, StructureSet, Volume
from braggdesk.physics.library import get_material

from .ct_calibration import write_calibration_csv
from .dicom_ct import write_ct_series
from .mask_contours import mask_contours

from .rtstruct import read_sop_instance_uids, write_rtstruct
from .uids import new_uid

PHANTOM_NAMES = ("water", "slab", "dcpt")
DCPT_GEOMETRIES = ("A", "B", "C", "D", "E", "F", "G")
AIR_MARGIN_MM = 10.0


def _material(name: str, density: float, fractions: dict[str, float]) -> Material:
    total = sum(fractions.values())
    return Material(name, density, {k: v / total for k, v in fractions.items()})


# One definition per material: the library's (water with the ICRU 49 I-value of 75 eV, so that
# phantom water has RSP 1 exactly; Solid Water HE, PMMA and air as in dcpt-let-2022 docs/materials.md).
WATER = get_material("Water")
AIR = get_material("Air")
SOLID_WATER_HE = get_material("Solid_Water_HE")
PMMA = get_material("PMMA")
# MCsquare Materials (mass %), ICRU cortical bone and inflated lung; MCsquare drops trace elements.
BONE_CORTICAL = _material("Bone_Cortical", 1.92, {"H": 3.420523, "C": 15.593561, "N": 4.225352, "O": 43.762575,
                                                  "P": 10.362173, "Ca": 22.635815})
LUNG = _material("Lung", 0.26, {"H": 10.40404, "C": 10.606061, "N": 3.131313, "O": 75.656566, "P": 0.20202})

PHANTOM_HU = {"Air": -1000.0, "Lung": -740.0, "Water": 0.0, "Solid_Water_HE": 20.0, "PMMA": 120.0,
              "Bone_Cortical": 1200.0}

# docs/geometry.md: (first solid water slab start, PMMA plate start, second slab end), cm -> mm below.
_DCPT_CM = {
    "A": (-10.25, -0.25, 10.25),
    "B": (-10.25, 4.75, 10.25),
    "C": (-10.25, 4.95, 10.25),
    "D": (-2.25, -0.25, 18.25),
    "E": (-7.28, 1.89, 13.22),
    "F": (-4.37, 1.80, 16.13),
    "G": (-8.25, 5.76, 12.25),
}
_DCPT_PLATE_MM = 5.0
_DCPT_RANGE_SHIFTER_NOTE = {
    "F": "3 cm Lexan range shifter at 13.59 cm upstream of the isocentre (z = -15.09..-12.09 cm)",
    "G": "3 cm Lexan range shifter at 17.38 cm upstream of the isocentre (z = -18.88..-15.88 cm)",
}


@dataclass(frozen=True)
class Slab:
    """One material layer of a phantom, as built: depth extent along +y relative to the isocentre, mm."""

    material: str
    depth_start_mm: float
    depth_end_mm: float


@dataclass
class Phantom:
    name: str
    volume: Volume
    calibration: CtCalibration
    description: str
    slabs: tuple[Slab, ...] = field(default_factory=tuple)

    def material_at_depth(self, depth_mm: float) -> str:
        """Material on the central axis at ``depth_mm`` (along +y from the isocentre); 'Air' outside."""
        for slab in self.slabs:
            if slab.depth_start_mm <= depth_mm < slab.depth_end_mm:
                return slab.material
        return AIR.name


def make_phantom(name: str, *, geometry: str | None = None, isocenter_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
                 spacing_mm: float | tuple[float, float, float] = 2.0,
                 lateral_mm: tuple[float, float] | None = None) -> Phantom:
    """Build a built-in phantom (see the module docstring); ``spacing_mm`` is one value or (x, y, z).

    ``lateral_mm`` (x, z; dcpt only) replaces the phantom's nominal lateral size, e.g. to match the
    phantom outline of the CT a planning system used (its External ROI).
    """
    key = name.strip().lower()
    if lateral_mm is not None:
        lateral_mm = tuple(float(v) for v in lateral_mm)
        if len(lateral_mm) != 2 or not all(math.isfinite(v) and v > 0 for v in lateral_mm):
            raise ValueError(f"lateral_mm must be two positive sizes (x, z) in mm, got {lateral_mm!r}")
    if key not in PHANTOM_NAMES:
        raise ValueError(f"unknown phantom {name!r}; built-in phantoms are {', '.join(PHANTOM_NAMES)}")
    if geometry is not None and key != "dcpt":
        raise ValueError(f"phantom {key!r} has no geometries; 'geometry' applies to the dcpt phantom")
    if lateral_mm is not None and key != "dcpt":
        raise ValueError(f"phantom {key!r} has a fixed lateral size; 'lateral_mm' applies to the dcpt phantom")
    spacing = _spacing(spacing_mm)
    iso = tuple(float(v) for v in isocenter_mm)
    if len(iso) != 3:
        raise ValueError(f"isocenter_mm needs 3 values, got {isocenter_mm!r}")

    if key == "water":
        nominal = [(WATER, -100.0, 200.0)]
        return _build("water", None, nominal, anchor_mm=-100.0, lateral_mm=(200.0, 200.0), iso=iso, spacing=spacing,
                      summary="water box 200 x 300 x 200 mm (x, depth y, z), entrance surface 100 mm upstream "
                              "of the isocentre")
    if key == "slab":
        nominal = [(WATER, -100.0, -80.0), (BONE_CORTICAL, -80.0, -60.0), (WATER, -60.0, -40.0),
                   (LUNG, -40.0, -10.0), (WATER, -10.0, 200.0)]
        return _build("slab", None, nominal, anchor_mm=-100.0, lateral_mm=(200.0, 200.0), iso=iso, spacing=spacing,
                      summary="water box 200 x 300 x 200 mm with 20 mm cortical bone (1.92 g/cm3) at 20-40 mm depth "
                              "and 30 mm lung (0.26 g/cm3) at 60-90 mm depth; entrance surface 100 mm upstream of "
                              "the isocentre")

    letter = (geometry or "A").strip().upper()
    if letter not in _DCPT_CM:
        raise ValueError(f"unknown DCPT geometry {geometry!r}; expected one of {', '.join(DCPT_GEOMETRIES)}")
    front, plate, back = (10.0 * v for v in _DCPT_CM[letter])
    nominal = [(SOLID_WATER_HE, front, plate), (PMMA, plate, plate + _DCPT_PLATE_MM),
               (SOLID_WATER_HE, plate + _DCPT_PLATE_MM, back)]
    summary = (f"DCPT slab phantom, geometry {letter} (dcpt-let-2022 docs/geometry.md): 300 x 300 mm Gammex Solid "
               f"Water HE (1.032 g/cm3) with a 5 mm PMMA detector plate (1.19 g/cm3), 205 mm along the beam; "
               f"solid water {front:g}..{plate:g} mm, PMMA {plate:g}..{plate + _DCPT_PLATE_MM:g} mm, solid water "
               f"{plate + _DCPT_PLATE_MM:g}..{back:g} mm relative to the isocentre")
    if letter in _DCPT_RANGE_SHIFTER_NOTE:
        summary += (f"; the {_DCPT_RANGE_SHIFTER_NOTE[letter]} belongs to the beam line (plan and beam model) and "
                    f"is not part of this CT")
    if lateral_mm is not None:
        summary += f"; lateral size set to {lateral_mm[0]:g} x {lateral_mm[1]:g} mm (x, z) instead of 300 x 300 mm"
    return _build("dcpt", letter, nominal, anchor_mm=plate, lateral_mm=lateral_mm or (300.0, 300.0), iso=iso,
                  spacing=spacing,
                  summary=summary)


def write_phantom(phantom: Phantom, folder: str | Path, extra_rois: list[Roi] | tuple[Roi, ...] = ()) -> list[Path]:
    """Write the phantom's CT series, its structures and its calibration into ``folder``.

    Files: CT0001.dcm ..., ``RS_phantom.dcm`` (:func:`phantom_structures` plus
    ``extra_rois``, e.g. a plan's target) and ``ct_calibration.csv``, in that order.
    """
    folder = Path(folder)
    paths = write_ct_series(phantom.volume, folder, series_description=phantom.volume.description)
    structures = phantom_structures(phantom)
    numbers = {r.number for r in structures.rois}
    for roi in extra_rois:
        if roi.number in numbers:
            raise ValueError(f"extra ROI {roi.name!r} has number {roi.number}, already used by the phantom's ROIs "
                             f"(1..{max(numbers)})")
        structures.rois.append(roi)
    paths.append(write_rtstruct(structures, phantom.volume, read_sop_instance_uids(paths), folder / "RS_phantom.dcm",
                                label=phantom.name, series_description=f"{phantom.volume.description} structures"))
    paths.append(write_calibration_csv(phantom.calibration, folder / "ct_calibration.csv"))
    return paths


def phantom_structures(phantom: Phantom) -> StructureSet:
    """The phantom's outline (EXTERNAL) and, where it has several, one ROI per material, traced on its voxels.

    Contours follow voxel edges, so each ROI holds exactly the voxels of its
    material (see :mod:`braggdesk.io.mask_contours`).
    """
    volume = phantom.volume
    air = PHANTOM_HU[AIR.name]
    rois = [Roi(number=1, name="External", color_rgb=(0, 255, 0), roi_type="EXTERNAL",
                contours=mask_contours(volume.hu != air, volume))]
    materials = list(dict.fromkeys(s.material for s in phantom.slabs))
    if len(materials) > 1:
        for n, name in enumerate(materials, start=2):
            rois.append(Roi(number=n, name=name, color_rgb=_MATERIAL_COLOURS.get(name, (200, 200, 200)),
                            roi_type="ORGAN", contours=mask_contours(volume.hu == PHANTOM_HU[name], volume)))
    return StructureSet(rois=rois, frame_of_reference_uid=volume.frame_of_reference_uid,
                        referenced_series_uid=volume.series_instance_uid, label=phantom.name)


_MATERIAL_COLOURS = {"Water": (0, 120, 255), "Lung": (255, 170, 200), "Bone_Cortical": (240, 240, 200),
                     "Solid_Water_HE": (120, 180, 255), "PMMA": (255, 165, 0)}


# ----------------------------------------------------------------------------------------- building


def _spacing(spacing_mm: float | tuple[float, float, float]) -> tuple[float, float, float]:
    if isinstance(spacing_mm, (int, float)):
        values = (float(spacing_mm),) * 3
    else:
        values = tuple(float(v) for v in spacing_mm)
    if len(values) != 3 or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"spacing_mm must be one positive number or three (x, y, z), got {spacing_mm!r}")
    return values  # type: ignore[return-value]


def _build(name: str, geometry: str | None, nominal: list[tuple[Material, float, float]], *, anchor_mm: float,
           lateral_mm: tuple[float, float], iso: tuple[float, float, float], spacing: tuple[float, float, float],
           summary: str) -> Phantom:
    dx, dy, dz = spacing
    # Depth boundaries on the voxel lattice anchor_mm + m * dy; every slab keeps at least one voxel.
    edges_nominal = [nominal[0][1]] + [end for _, _, end in nominal]
    steps = [math.floor((e - anchor_mm) / dy + 0.5) for e in edges_nominal]
    for i in range(1, len(steps)):
        steps[i] = max(steps[i], steps[i - 1] + 1)
    edges = [round(anchor_mm + s * dy, 9) for s in steps]
    slabs = tuple(Slab(m.name, edges[i], edges[i + 1]) for i, (m, _, _) in enumerate(nominal))

    margin_y = math.ceil(AIR_MARGIN_MM / dy - 1e-9)
    n_inside = steps[-1] - steps[0]
    ny = n_inside + 2 * margin_y
    y0 = edges[0] - margin_y * dy + dy / 2  # centre of row 0, relative to the isocentre

    def lateral(width: float, d: float) -> tuple[int, int, float]:
        n_inside = max(1, int(math.floor(width / d + 0.5)))
        margin = math.ceil(AIR_MARGIN_MM / d - 1e-9)
        n = n_inside + 2 * margin
        return n, margin, -(n - 1) / 2 * d  # centre of the first voxel relative to the isocentre

    nx, mx, x0 = lateral(lateral_mm[0], dx)
    nz, mz, z0 = lateral(lateral_mm[1], dz)

    hu = np.full((nz, ny, nx), PHANTOM_HU[AIR.name], dtype=np.float32)
    for (material, _, _), first, last in zip(nominal, steps[:-1], steps[1:]):
        rows = slice(first - steps[0] + margin_y, last - steps[0] + margin_y)
        hu[mz:nz - mz, rows, mx:nx - mx] = PHANTOM_HU[material.name]

    used = [AIR] + [m for m, _, _ in nominal]
    materials = sorted({m.name: m for m in used}.values(), key=lambda m: PHANTOM_HU[m.name])
    calibration = _calibration(name, materials)

    built_width = ((nx - 2 * mx) * dx, (nz - 2 * mz) * dz)
    notes = []
    moved = [(f"{e_nom:g}", f"{e:g}") for e_nom, e in zip(edges_nominal, edges) if abs(e_nom - e) > 1e-9]
    if moved:
        notes.append(f"With {dy:g} mm voxels along depth, boundaries moved to voxel edges: "
                     + ", ".join(f"{a} -> {b} mm" for a, b in moved))
    if abs(built_width[0] - lateral_mm[0]) > 1e-9 or abs(built_width[1] - lateral_mm[1]) > 1e-9:
        notes.append(f"Lateral size {built_width[0]:g} x {built_width[1]:g} mm (whole voxels)")
    description = summary + ". As built: " + ", ".join(
        f"{s.material} {s.depth_start_mm:g}..{s.depth_end_mm:g} mm" for s in slabs) + "."
    if notes:
        description += " " + "; ".join(notes) + "."

    label = name if geometry is None else f"{name} geometry {geometry}"
    identity = ("braggdesk phantom", name, geometry, iso, spacing)
    volume = Volume(
        values=hu,
        spacing_mm=spacing,
        origin_mm=(iso[0] + x0, iso[1] + y0, iso[2] + z0),
        direction=np.eye(3),
        frame_of_reference_uid=new_uid(*identity, "frame of reference"),
        series_instance_uid=new_uid(*identity, "series"),
        study_instance_uid=new_uid(*identity, "study"),
        patient_position="HFS",
        description=f"braggdesk phantom {label}",
    )
    return Phantom(name=name, volume=volume, calibration=calibration, description=description, slabs=slabs)


def _calibration(name: str, materials: list[Material]) -> CtCalibration:
    """Density points at exactly the phantom's HU; material sections bounded halfway between them."""
    hu = [PHANTOM_HU[m.name] for m in materials]
    bounds = [hu[0] - 24.0] + [(a + b) / 2 for a, b in zip(hu, hu[1:])]
    return CtCalibration(
        name=f"braggdesk phantom {name}",
        density_hu=np.array(hu),
        density_g_cm3=np.array([m.density_g_cm3 for m in materials]),
        material_hu_min=np.array(bounds),
        materials=list(materials),
        notes=[f"built-in phantom {name}: " + ", ".join(f"{m.name} at {h:g} HU ({m.density_g_cm3:g} g/cm3)"
                                                        for m, h in zip(materials, hu))],
    )
