"""A :class:`Volume` written as a DICOM CT series: one CT Image Storage file per slice.

Explicit VR little endian, 16-bit pixels with a rescale so the HU fit; for the built-in phantoms,
converted anatomies and tests.  No patient identity is kept in the Volume; written files are
de-identified unless the caller passes the identity and ``identified=True``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydicom

from braggdesk.errors import InputError
from braggdesk.model import Volume

from .deidentify import PatientIdentity, finalize_identity
from .uids import CT_IMAGE_STORAGE, add_image_plane, add_patient_and_study, decimal_string, new_dataset, new_uid

def write_ct_series(volume: Volume, folder: str | Path, series_description: str = "", *,
                    identity: PatientIdentity | None = None, identified: bool = False) -> list[Path]:
    """Write ``volume`` as a CT series, one file per slice (CT0001.dcm, ...); returns the paths.

    The files are de-identified (:mod:`braggdesk.io.deidentify`) unless
    ``identified=True``, which writes ``identity``.  ``series_description`` is
    written as given (the caller vouches that it names no patient); the
    volume's own description, which came from a source file, only in
    identified output.

    UIDs the volume lacks (frame of reference, study, series) are generated;
    each slice gets a new SOPInstanceUID.  HU are rounded to integers.  Refuses
    (InputError) a folder that already holds other .dcm files, which would
    otherwise read back as a mixed series.
    """
    folder = Path(folder)
    hu = np.asarray(volume.hu, dtype=np.float64)
    if not np.all(np.isfinite(hu)):
        raise ValueError("the volume holds NaN or infinite values; cannot write them as CT numbers")
    direction = np.asarray(volume.direction, dtype=float)
    row_dir, col_dir, slice_dir = direction[:, 0], direction[:, 1], direction[:, 2]
    normal = np.cross(row_dir, col_dir)
    if abs(abs(float(np.dot(slice_dir, normal))) - 1.0) > 1e-6:
        raise ValueError("the volume's slice axis is not perpendicular to its image plane; a CT series cannot hold it")
    dk = volume.spacing_mm[2]
    nk, nj, ni = hu.shape
    stored, slope, intercept, signed = _encode_hu(hu)

    width = max(4, len(str(nk)))
    names = [f"CT{k + 1:0{width}d}.dcm" for k in range(nk)]
    if folder.exists() and not folder.is_dir():
        raise InputError(folder, "is a file; expected a folder to write the CT series into")
    folder.mkdir(parents=True, exist_ok=True)
    ours = set(names)
    foreign = sorted(p.name for p in folder.glob("*.dcm") if p.name not in ours)
    if foreign:
        raise InputError(folder, f"already holds {len(foreign)} other .dcm file(s) (e.g. {foreign[0]}); they would "
                                 f"mix with the new series: choose an empty folder")

    for_uid = volume.frame_of_reference_uid or new_uid()
    study_uid = volume.study_instance_uid or new_uid()
    series_uid = volume.series_instance_uid or new_uid()
    origin = np.asarray(volume.origin_mm, dtype=float)
    paths = []
    for k in range(nk):
        ds = new_dataset(CT_IMAGE_STORAGE, new_uid())
        add_patient_and_study(ds, study_instance_uid=study_uid, series_instance_uid=series_uid, modality="CT",
                              series_description=series_description or volume.description)
        ds.FrameOfReferenceUID = for_uid
        ds.PositionReferenceIndicator = ""
        ds.PatientPosition = volume.patient_position or "HFS"
        ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
        ds.InstanceNumber = k + 1
        ds.AcquisitionNumber = ""
        ds.KVP = ""
        position = origin + slice_dir * dk * k
        add_image_plane(ds, position_mm=position, direction=direction, spacing_mm=volume.spacing_mm, rows=nj,
                        columns=ni, bits=16, signed=signed)
        ds.SliceLocation = decimal_string(float(np.dot(position, normal)))
        ds.RescaleIntercept = decimal_string(intercept)
        ds.RescaleSlope = decimal_string(slope)
        ds.RescaleType = "HU"
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        finalize_identity(ds, identity, identified=identified)
        if series_description:
            ds.SeriesDescription = series_description
        path = folder / names[k]
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def _encode_hu(hu: np.ndarray) -> tuple[np.ndarray, float, float, bool]:
    """Stored 16-bit values, slope, intercept, signedness such that slope*stored+intercept = round(HU)."""
    rounded = np.rint(hu)
    lo, hi = float(rounded.min()), float(rounded.max())
    if lo >= -1024 and hi <= 65535 - 1024:
        return (rounded + 1024).astype("<u2"), 1.0, -1024.0, False
    if lo >= -32768 and hi <= 32767:
        return rounded.astype("<i2"), 1.0, 0.0, True
    slope = float(math.ceil((hi - lo) / 65535.0))
    return np.rint((hu - lo) / slope).astype("<u2"), slope, lo, False
