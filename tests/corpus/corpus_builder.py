"""The broken-input corpus, built at test time: pydicom's own test files and mutations of real files.

Why built, not stored: the real plans, doses and structure sets live in ../shared/data
(read-only, licensed upstream) and pydicom ships its test files; a mutation is a few
lines here (one header value changed, a file cut short) and costs no repository space.

Every mutation is a way a real file goes wrong (a value typed as text, NaN written by a
script, a unit mix-up, a truncated copy, a hand-edited header).  Each case knows which
file it broke, so the test can check that the answer names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pydicom
import pydicom.data
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
DCPT = SHARED / "dcpt-let-2022"
PLAN02 = next((DCPT / "plans" / "plan02_mono_eclipse").glob("RN*.dcm"))
PLAN01 = next((DCPT / "plans" / "plan01_sobp_eclipse").glob("RN*.dcm"))
PLAN03 = next((DCPT / "plans" / "plan03_sobp_raystation").glob("RP*.dcm"))
DOSES = sorted((DCPT / "plans").glob("*/RD*.dcm"))
STRUCTURES = sorted((DCPT / "plans").glob("*/RS*.dcm"))
MODEL_V2 = DCPT / "beam_model" / "DCPT_beam_model__v2.csv"
PYDICOM_TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"

Edit = Callable[[Dataset], None]


@dataclass(frozen=True)
class Case:
    """One broken input: the file to ask about and what was done to it."""

    name: str
    path: Path  # the mutated file (for CT: a slice inside ``folder``)
    kind: str  # plan, dose, structures, ct
    folder: Path | None = None  # a CT case: the series folder that holds the slice


def pydicom_test_files(root: Path) -> list[Path]:
    """Every file pydicom ships for its own tests (DICOM of every transfer syntax, and some that are not), copied
    under ``root`` as a user's files would be (the answers must not name pydicom's install folder)."""
    copies = []
    for source in sorted(p for p in PYDICOM_TEST_FILES.rglob("*") if p.is_file()):
        target = root / source.relative_to(PYDICOM_TEST_FILES)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
        copies.append(target)
    return copies


# ------------------------------------------------------------------------------------------ edits


def text(keyword: str, value: str) -> Edit:
    """Put ``value`` into ``keyword`` as text (an LO element): how a script or an editor writes 'thick' or 'nan'."""
    def edit(ds: Dataset) -> None:
        ds.add_new(tag_for_keyword(keyword), "LO", value)
    return edit


def value(keyword: str, new) -> Edit:
    """Set ``keyword`` to a value its VR accepts (a negative spacing, a huge energy)."""
    def edit(ds: Dataset) -> None:
        setattr(ds, keyword, new)
    return edit


def delete(keyword: str) -> Edit:
    def edit(ds: Dataset) -> None:
        if keyword in ds:
            delattr(ds, keyword)
    return edit


def inside(path: Callable[[Dataset], Dataset], edit: Edit) -> Edit:
    """Apply ``edit`` to an item of a sequence (the first control point that delivers spots, say)."""
    def nested(ds: Dataset) -> None:
        edit(path(ds))
    return nested


def _spot_control_point(ds: Dataset) -> Dataset:
    for beam in ds.IonBeamSequence:
        for cp in beam.IonControlPointSequence:
            if cp.get("ScanSpotMetersetWeights") is not None and cp.get("NominalBeamEnergy") is not None:
                return cp
    raise AssertionError("no control point with spots")


def _first_beam(ds: Dataset) -> Dataset:
    return ds.IonBeamSequence[0]


def _first_control_point(ds: Dataset) -> Dataset:
    return ds.IonBeamSequence[0].IonControlPointSequence[0]


def _referenced_beam(ds: Dataset) -> Dataset:
    return ds.FractionGroupSequence[0].ReferencedBeamSequence[0]


def _first_contour(ds: Dataset) -> Dataset:
    for item in ds.ROIContourSequence:
        if item.get("ContourSequence"):
            return item.ContourSequence[0]
    raise AssertionError("no contour")


def _weights_with(bad: float) -> Edit:
    def edit(cp: Dataset) -> None:
        weights = [float(w) for w in np.atleast_1d(cp.ScanSpotMetersetWeights)]
        weights[0] = bad
        cp.ScanSpotMetersetWeights = weights
    return edit


def _positions_with(bad: float) -> Edit:
    def edit(cp: Dataset) -> None:
        positions = [float(v) for v in np.atleast_1d(cp.ScanSpotPositionMap)]
        positions[0] = bad
        cp.ScanSpotPositionMap = positions
    return edit


def _contour_with(bad: str) -> Edit:
    def edit(contour: Dataset) -> None:
        values = [str(v) for v in contour.ContourData]
        values[0] = bad
        contour.add_new(tag_for_keyword("ContourData"), "LO", "\\".join(values))
    return edit


def _rows_plus_one(ds: Dataset) -> None:
    ds.Rows = int(ds.Rows) + 1


def _roi_number_text(ds: Dataset) -> None:
    ds.StructureSetROISequence[0].add_new(tag_for_keyword("ROINumber"), "LO", "abc")


def _referenced_roi_text(ds: Dataset) -> None:
    ds.ROIContourSequence[0].add_new(tag_for_keyword("ReferencedROINumber"), "LO", "x1")


def _dose_beam_number_text(ds: Dataset) -> None:
    from pydicom.sequence import Sequence

    beam = Dataset()
    beam.add_new(tag_for_keyword("ReferencedBeamNumber"), "LO", "first")
    group = Dataset()
    group.ReferencedFractionGroupNumber = 1
    group.ReferencedBeamSequence = Sequence([beam])
    plan = ds.ReferencedRTPlanSequence[0] if ds.get("ReferencedRTPlanSequence") else Dataset()
    plan.ReferencedFractionGroupSequence = Sequence([group])
    ds.ReferencedRTPlanSequence = Sequence([plan])


def _unknown_transfer_syntax(ds: Dataset) -> None:
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5.6.7"


PLAN_EDITS: dict[str, Edit] = {
    "energy_negative": inside(_spot_control_point, value("NominalBeamEnergy", -100)),
    "energy_1e6": inside(_spot_control_point, value("NominalBeamEnergy", 1e6)),
    "energy_text": inside(_spot_control_point, text("NominalBeamEnergy", "high")),
    "energy_nan": inside(_spot_control_point, text("NominalBeamEnergy", "nan")),
    "meterset_inf": inside(_referenced_beam, text("BeamMeterset", "inf")),
    "meterset_nan": inside(_referenced_beam, text("BeamMeterset", "nan")),
    "meterset_negative": inside(_referenced_beam, value("BeamMeterset", -5)),
    "meterset_zero": inside(_referenced_beam, value("BeamMeterset", 0)),
    "meterset_text": inside(_referenced_beam, text("BeamMeterset", "ten")),
    "referenced_beam_number_text": inside(_referenced_beam, text("ReferencedBeamNumber", "one")),
    "beam_number_text": inside(_first_beam, text("BeamNumber", "one")),
    "weight_nan": inside(_spot_control_point, _weights_with(float("nan"))),
    "weight_negative": inside(_spot_control_point, _weights_with(-1.0)),
    "position_huge": inside(_spot_control_point, _positions_with(1e9)),
    "isocenter_two_values": inside(_first_control_point, value("IsocenterPosition", [0.0, 0.0])),
    "isocenter_nan": inside(_first_control_point, text("IsocenterPosition", "nan\\0\\0")),
    "gantry_text": inside(_first_control_point, text("GantryAngle", "left")),
    "gantry_huge": inside(_first_control_point, value("GantryAngle", 1e5)),
    "fractions_zero": inside(lambda ds: ds.FractionGroupSequence[0], value("NumberOfFractionsPlanned", 0)),
    "fractions_text": inside(lambda ds: ds.FractionGroupSequence[0], text("NumberOfFractionsPlanned", "x")),
    "final_weight_nan": inside(_first_beam, text("FinalCumulativeMetersetWeight", "nan")),
    "final_weight_zero": inside(_first_beam, value("FinalCumulativeMetersetWeight", 0)),
    "snout_nan": inside(_first_control_point, value("SnoutPosition", float("nan"))),  # FL: a binary NaN
    "spot_size_text": inside(_spot_control_point, text("ScanningSpotSize", "big\\big")),
    "control_points_text": inside(_first_beam, text("NumberOfControlPoints", "many")),
    "no_ion_beams": delete("IonBeamSequence"),
    "no_fraction_group": delete("FractionGroupSequence"),
}

DOSE_EDITS: dict[str, Edit] = {
    "scaling_nan": text("DoseGridScaling", "nan"),
    "scaling_negative": value("DoseGridScaling", -1),
    "scaling_zero": value("DoseGridScaling", 0),
    "scaling_text": text("DoseGridScaling", "gray"),
    "scaling_missing": delete("DoseGridScaling"),
    "spacing_negative": value("PixelSpacing", [-1, -1]),
    "spacing_zero": value("PixelSpacing", [0, 0]),
    "spacing_one_value": value("PixelSpacing", [2]),
    "spacing_nan": text("PixelSpacing", "nan\\nan"),
    "orientation_nan": text("ImageOrientationPatient", "nan\\0\\0\\0\\1\\0"),
    "orientation_not_unit": value("ImageOrientationPatient", [2, 0, 0, 0, 2, 0]),
    "orientation_not_perpendicular": value("ImageOrientationPatient", [1, 0, 0, 1, 0, 0]),
    "position_text": text("ImagePositionPatient", "a\\b\\c"),
    "position_huge": value("ImagePositionPatient", [1e12, 0, 0]),
    "rows_plus_one": _rows_plus_one,
    "offsets_nan": text("GridFrameOffsetVector", "0\\nan"),
    "frames_text": text("NumberOfFrames", "some"),
    "referenced_beam_number_text": _dose_beam_number_text,
    "unknown_transfer_syntax": _unknown_transfer_syntax,
}

STRUCTURE_EDITS: dict[str, Edit] = {
    "roi_number_text": _roi_number_text,
    "referenced_roi_number_text": _referenced_roi_text,
    "contour_huge": inside(_first_contour, _contour_with("1e12")),
    "contour_nan": inside(_first_contour, _contour_with("nan")),
    "contour_text": inside(_first_contour, _contour_with("north")),
    "contour_points_text": inside(_first_contour, text("NumberOfContourPoints", "many")),
    "no_roi_sequence": delete("StructureSetROISequence"),
}

CT_EDITS: dict[str, Edit] = {
    "thickness_text": text("SliceThickness", "thick"),
    "thickness_negative": value("SliceThickness", -1),
    "spacing_one_value": value("PixelSpacing", [0.5]),
    "spacing_negative": value("PixelSpacing", [-1, -1]),
    "spacing_zero": value("PixelSpacing", [0, 0]),
    "spacing_nan": text("PixelSpacing", "nan\\nan"),
    "orientation_nan": text("ImageOrientationPatient", "nan\\nan\\nan\\nan\\nan\\nan"),
    "orientation_not_unit": value("ImageOrientationPatient", [3, 0, 0, 0, 3, 0]),
    "position_text": text("ImagePositionPatient", "x\\y\\z"),
    "position_huge": value("ImagePositionPatient", [0, 0, 1e9]),
    "rows_plus_one": _rows_plus_one,
    "rescale_slope_text": text("RescaleSlope", "steep"),
    "rescale_slope_zero": value("RescaleSlope", 0),
    "rescale_slope_nan": text("RescaleSlope", "nan"),
    "rescale_intercept_text": text("RescaleIntercept", "low"),
    "rows_text": text("Rows", "many"),
    "modality_mr": value("Modality", "MR"),
    "unknown_transfer_syntax": _unknown_transfer_syntax,
}


# ------------------------------------------------------------------------------------------ building


def mutate(source: Path, target: Path, edit: Edit) -> Path:
    """``source`` read whole, edited, written to ``target`` as it is (no fixing of the file meta)."""
    ds = pydicom.dcmread(source)
    edit(ds)
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target, enforce_file_format=False)
    return target


def truncate(source: Path, target: Path, fraction: float) -> Path:
    data = source.read_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def build_file_cases(root: Path) -> list[Case]:
    """Mutations of the real plans, doses and structure sets, one file per case in its own folder."""
    cases = []
    for plan in (PLAN02, PLAN01, PLAN03):
        tag = plan.parent.name.split("_")[0]
        for name, edit in PLAN_EDITS.items():
            cases.append(Case(f"plan-{tag}-{name}", mutate(plan, root / f"plan-{tag}-{name}" / plan.name, edit),
                              "plan"))
        for fraction in (0.1, 0.5, 0.8):  # (a cut inside the last private elements leaves a usable plan)
            name = f"plan-{tag}-truncated-{fraction}"
            cases.append(Case(name, truncate(plan, root / name / plan.name, fraction), "plan"))
    for dose in DOSES:
        tag = dose.parent.name.split("_")[0] + "-" + dose.parent.name.split("_")[-1]
        for name, edit in DOSE_EDITS.items():
            cases.append(Case(f"dose-{tag}-{name}", mutate(dose, root / f"dose-{tag}-{name}" / dose.name, edit),
                              "dose"))
        name = f"dose-{tag}-truncated"
        cases.append(Case(name, truncate(dose, root / name / dose.name, 0.5), "dose"))
    for structures in STRUCTURES:
        tag = structures.parent.name.split("_")[0] + "-" + structures.parent.name.split("_")[-1]
        for name, edit in STRUCTURE_EDITS.items():
            case = f"structures-{tag}-{name}"
            cases.append(Case(case, mutate(structures, root / case / structures.name, edit), "structures"))
    return cases


def build_ct_cases(root: Path, series: Path) -> list[Case]:
    """Mutations of one slice of a CT series (a copy of ``series`` per case), and of pydicom's CT_small.dcm."""
    slices = sorted(series.glob("*.dcm"))
    victim = slices[len(slices) // 2]
    cases = []
    for name, edit in CT_EDITS.items():
        folder = root / f"ct-{name}"
        folder.mkdir(parents=True)
        for s in slices:
            if s != victim:
                (folder / s.name).write_bytes(s.read_bytes())
        cases.append(Case(f"ct-{name}", mutate(victim, folder / victim.name, edit), "ct", folder))
    small = PYDICOM_TEST_FILES / "CT_small.dcm"
    for name, edit in CT_EDITS.items():
        case = f"ct_small-{name}"
        path = mutate(small, root / case / "CT_small.dcm", edit)
        cases.append(Case(case, path, "ct", path.parent))
    # an MR slice under the CT series' UID: a mixed series
    folder = root / "ct-with-an-mr-slice"
    folder.mkdir()
    for s in slices:
        (folder / s.name).write_bytes(s.read_bytes())
    uid = str(pydicom.dcmread(slices[0], stop_before_pixels=True).SeriesInstanceUID)
    mr = mutate(PYDICOM_TEST_FILES / "MR_small.dcm", folder / "MR0001.dcm", value("SeriesInstanceUID", uid))
    cases.append(Case("ct-with-an-mr-slice", mr, "ct", folder))
    truncated = root / "ct-truncated-slice"
    truncated.mkdir()
    for s in slices:
        (truncated / s.name).write_bytes(s.read_bytes())
    cases.append(Case("ct-truncated-slice", truncate(victim, truncated / victim.name, 0.6), "ct", truncated))
    return cases
