"""The OpenKBP head-and-neck cases (CSV) as a CT Volume and StructureSet, and as DICOM CT + RTSTRUCT.

The anatomy is derived data: it comes from the OpenKBP dataset (A. Babier et al.,
"OpenKBP: The open-access knowledge-based planning grand challenge and dataset",
Medical Physics 48:5549-5561, 2021; GitHub ababier/open-kbp, MIT License,
"Copyright (c) 2021 Aaron Babier"), whose CT images and contours come from
head-and-neck collections of The Cancer Imaging Archive (TCIA, Clark et al.
2013), down-sampled to 128 x 128 x 128 voxels.  Cite the paper and TCIA when
using it.  Everything written from it says it is derived, and carries no
identity beyond the dataset's case name.

Layout of a case folder (``pt_N``): sparse CSV files, first column a flat index
into a C-ordered 128^3 array, column ``data`` the value (empty for structure
masks); ``voxel_dimensions.csv`` holds the spacing of the three array axes in mm.
The array axes were identified from the anatomy of pt_1: axis 0 runs anterior
to posterior (mandible before spinal cord: DICOM +y, rows), axis 1 from the
patient's right to left (right parotid before left: +x, columns), axis 2 from
superior to inferior (brainstem before spinal cord: -z), so slices are reversed
to run along +z.  CT values are HU + 1000 (air 0, soft tissue about 1040;
absent voxels are air).  The grid is centred on the patient origin (0, 0, 0),
an arbitrary but fixed choice: the source has no patient coordinates.

The dose in the case (``dose.csv``) is a synthetic 6 MV photon IMRT plan (70 Gy to PTV70 in 35
fractions, computed with CERR); it is written beside the CT as ``RD_<case>_photon.dcm`` so a proton
plan can be compared with it (total dose, Gy).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from braggdesk.errors import InputError
from braggdesk.model import Roi, StructureSet, Volume

from .dicom_ct import write_ct_series
from .mask_contours import mask_contours
from .rtstruct import read_sop_instance_uids, write_rtstruct
from .uids import new_uid

GRID_SHAPE = (128, 128, 128)
STRUCTURE_NAMES = ("Brainstem", "SpinalCord", "RightParotid", "LeftParotid", "Esophagus", "Larynx", "Mandible",
                   "PTV56", "PTV63", "PTV70")
_TYPES = {"PTV56": "PTV", "PTV63": "PTV", "PTV70": "PTV"}
_COLOURS = {"Brainstem": (255, 170, 0), "SpinalCord": (255, 255, 0), "RightParotid": (0, 200, 255),
            "LeftParotid": (0, 120, 255), "Esophagus": (160, 100, 60), "Larynx": (120, 220, 120),
            "Mandible": (230, 230, 230), "PTV56": (0, 200, 0), "PTV63": (255, 120, 200), "PTV70": (255, 0, 0)}
CT_OFFSET = 1000.0  # HU = CT value - 1000
DERIVED_NOTE = "derived from OpenKBP (Babier et al. 2021, MIT License) / TCIA; not for clinical use"


@dataclass
class OpenKbpCase:
    """One case: the CT, its structures as contours, and the source masks (what the contours must hold)."""

    name: str
    volume: Volume
    structure_set: StructureSet
    masks: dict[str, np.ndarray]  # bool, indexed like volume.hu
    photon_dose_gy: np.ndarray | None = None  # the dataset's own IMRT dose, indexed like volume.hu


def read_openkbp(folder: str | Path) -> OpenKbpCase:
    """Read an OpenKBP case folder (``pt_N``, or a folder holding exactly one) into a CT and structures."""
    folder = _case_folder(Path(folder))
    spacing = _read_spacing(folder / "voxel_dimensions.csv")
    values = np.zeros(int(np.prod(GRID_SHAPE)), dtype=np.float32)
    index, data = _read_sparse(folder / "ct.csv", with_values=True)
    values[index] = data
    hu = _to_kji(values.reshape(GRID_SHAPE)) - CT_OFFSET
    nk, nj, ni = hu.shape
    di, dj, dk = spacing[1], spacing[0], spacing[2]
    identity = ("braggdesk openkbp", folder.name)
    volume = Volume(
        values=np.ascontiguousarray(hu, dtype=np.float32),
        spacing_mm=(di, dj, dk),
        origin_mm=(-(ni - 1) / 2 * di, -(nj - 1) / 2 * dj, -(nk - 1) / 2 * dk),
        frame_of_reference_uid=new_uid(*identity, "frame of reference"),
        series_instance_uid=new_uid(*identity, "series"),
        study_instance_uid=new_uid(*identity, "study"),
        patient_position="HFS",
        description=f"OpenKBP {folder.name} ({DERIVED_NOTE})",
    )
    masks: dict[str, np.ndarray] = {}
    rois = []
    for name in STRUCTURE_NAMES:
        path = folder / f"{name}.csv"
        if not path.exists():
            continue
        index, _ = _read_sparse(path, with_values=False)
        flat = np.zeros(int(np.prod(GRID_SHAPE)), dtype=bool)
        flat[index] = True
        mask = np.ascontiguousarray(_to_kji(flat.reshape(GRID_SHAPE)))
        masks[name] = mask
        rois.append(Roi(number=len(rois) + 1, name=name, color_rgb=_COLOURS.get(name, (255, 0, 0)),
                        roi_type=_TYPES.get(name, "ORGAN"), contours=mask_contours(mask, volume)))
    if not rois:
        raise InputError(folder, f"holds none of the OpenKBP structure files ({', '.join(STRUCTURE_NAMES)}.csv)")
    body = _body_mask(hu)
    rois.insert(0, Roi(number=len(rois) + 1, name="BODY", color_rgb=(0, 255, 0), roi_type="EXTERNAL",
                       contours=mask_contours(body, volume)))
    masks["BODY"] = body
    structure_set = StructureSet(rois=rois, frame_of_reference_uid=volume.frame_of_reference_uid,
                                 referenced_series_uid=volume.series_instance_uid, label=f"OpenKBP {folder.name}",
                                 source_path=str(folder))
    dose = None
    if (folder / "dose.csv").exists():
        index, data = _read_sparse(folder / "dose.csv", with_values=True)
        flat = np.zeros(int(np.prod(GRID_SHAPE)), dtype=np.float32)
        flat[index] = data
        dose = np.ascontiguousarray(_to_kji(flat.reshape(GRID_SHAPE)))
    return OpenKbpCase(name=folder.name, volume=volume, structure_set=structure_set, masks=masks,
                       photon_dose_gy=dose)


def write_openkbp_dicom(case: OpenKbpCase, out: str | Path) -> tuple[list[Path], Path]:
    """Write the case as a CT series (CT0001.dcm ...), ``RS_<case>.dcm`` and, where the case has its photon
    dose, ``RD_<case>_photon.dcm`` into ``out``; returns the CT and structure set paths."""
    out = Path(out)
    ct_paths = write_ct_series(case.volume, out, series_description=f"OpenKBP {case.name} CT, {DERIVED_NOTE}"[:64])
    uids = read_sop_instance_uids(ct_paths)
    rs = write_rtstruct(case.structure_set, case.volume, uids, out / f"RS_{case.name}.dcm",
                        label=f"OpenKBP {case.name}"[:16],
                        series_description=f"OpenKBP {case.name} structures, {DERIVED_NOTE}"[:64])
    if case.photon_dose_gy is not None:
        from .rtdose import write_rtdose

        write_rtdose(case.photon_dose_gy, case.volume, out / f"RD_{case.name}_photon.dcm", ct=case.volume,
                     comment="OpenKBP synthetic 6 MV IMRT dose (photons)")
    return ct_paths, rs


# ----------------------------------------------------------------------------------------- helpers


def _case_folder(folder: Path) -> Path:
    if not folder.is_dir():
        raise InputError(folder, "no such folder; expected an OpenKBP case folder (pt_N with ct.csv)")
    if (folder / "ct.csv").exists():
        return folder
    cases = sorted(p for p in folder.iterdir() if (p / "ct.csv").exists())
    if len(cases) == 1:
        return cases[0]
    if not cases:
        raise InputError(folder, "holds no ct.csv and no case folder with one; expected an OpenKBP case (pt_N)")
    raise InputError(folder, f"holds {len(cases)} OpenKBP cases ({', '.join(p.name for p in cases[:5])}"
                             f"{' ...' if len(cases) > 5 else ''}); give one of them")


def _read_spacing(path: Path) -> tuple[float, float, float]:
    try:
        values = np.loadtxt(path, delimiter=",", ndmin=1)
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot be read as three voxel sizes in mm ({exc})") from exc
    if values.shape != (3,) or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise InputError(path, f"holds {values.tolist()}; expected three positive voxel sizes in mm")
    return float(values[0]), float(values[1]), float(values[2])


def _read_sparse(path: Path, with_values: bool) -> tuple[np.ndarray, np.ndarray | None]:
    if not path.exists():
        raise InputError(path, "missing; an OpenKBP case needs it")
    try:
        table = np.genfromtxt(path, delimiter=",", skip_header=1, ndmin=2, filling_values=np.nan)
    except ValueError as exc:
        raise InputError(path, f"is not an OpenKBP sparse CSV (index,data) ({exc})") from exc
    if table.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    index = table[:, 0]
    size = int(np.prod(GRID_SHAPE))
    if not np.all(np.isfinite(index)) or np.any(index != np.round(index)) or index.min() < 0 or index.max() >= size:
        raise InputError(path, f"first column must be whole voxel indices 0..{size - 1} of a 128^3 grid")
    data = None
    if with_values:
        if table.shape[1] < 2 or not np.all(np.isfinite(table[:, 1])):
            raise InputError(path, "the 'data' column is missing or holds non-numbers")
        data = table[:, 1].astype(np.float32)
    return index.astype(np.int64), data


def _to_kji(array: np.ndarray) -> np.ndarray:
    """OpenKBP (row y, column x, slice from superior) to our (slice along +z, row, column)."""
    return np.transpose(array[:, :, ::-1], (2, 0, 1))


def _body_mask(hu: np.ndarray) -> np.ndarray:
    """The patient outline per slice: voxels above -400 HU and every hole they enclose in the slice plane."""
    from scipy import ndimage

    tissue = hu > -400.0
    body = np.zeros_like(tissue)
    for k in np.flatnonzero(tissue.any(axis=(1, 2))):
        labels, n = ndimage.label(tissue[k])
        if not n:
            continue
        sizes = ndimage.sum_labels(tissue[k], labels, index=np.arange(1, n + 1))
        largest = labels == (1 + int(np.argmax(sizes)))
        body[k] = ndimage.binary_fill_holes(largest)
    return body
