"""RT Ion Plan writer: conformant file, read back to the same plan, and accepted by `braggdesk run`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from braggdesk.errors import PlanError
from braggdesk.io.beam_model_reader import read_beam_model
from braggdesk.io.phantoms import make_phantom, write_phantom
from braggdesk.io.rtplan import read_rt_ion_plan
from braggdesk.io.rtplan_writer import write_rt_ion_plan
from braggdesk.io.uids import RT_ION_PLAN_STORAGE
from braggdesk.model.plan_design import BeamSpec, DesignSettings
from braggdesk.planning.design import design_plan

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dcpt-let-2022"
MODEL_V2 = DATA / "beam_model" / "DCPT_beam_model__v2.csv"
CLINICAL = [next((DATA / "plans" / "plan01_sobp_eclipse").glob("RN*.dcm")),
            next((DATA / "plans" / "plan06_sobp_4d_rangeshifter_raystation").glob("RP*.dcm"))]


@pytest.fixture(scope="module")
def model():
    return read_beam_model(MODEL_V2)


@pytest.fixture(scope="module")
def phantom():
    return make_phantom("water", spacing_mm=4.0)


def target(volume, y=(-50.0, -30.0), half=10.0):
    xs, ys, zs = volume.axis_coordinates_mm()
    return ((np.abs(zs) <= half)[:, None, None] & ((ys >= y[0]) & (ys <= y[1]))[None, :, None]
            & (np.abs(xs) <= half)[None, None, :])


@pytest.fixture(scope="module")
def plan(model, phantom):
    """Two beams, one through the range shifter, with uneven weights, a few zero (as an optimiser leaves them)."""
    designed = design_plan(phantom.volume, phantom.calibration, model, target(phantom.volume, y=(-40.0, -20.0)),
                           [BeamSpec(0.0, name="AP"), BeamSpec(90.0, 10.0, "RS_3CM", name="left")],
                           settings=DesignSettings(spot_spacing_mm=6.0), label="writer test", fractions=3,
                           prescription_dose_gy=6.0, structure_set_uid="1.2.826.0.1.3680043.8.498.1")
    rng = np.random.default_rng(5)
    for beam in designed.beams:
        for layer in beam.layers:
            layer.spot_weights = rng.uniform(0.0, 3.0, layer.n_spots) * (rng.uniform(size=layer.n_spots) > 0.1)
            layer.mu_per_weight = 0.37
    return designed


def test_the_written_plan_reads_back_to_the_same_spots_energies_and_mu(plan, model, phantom, tmp_path):
    path = write_rt_ion_plan(plan, tmp_path / "RP.dcm", ct=phantom.volume, beam_model=model)
    back = read_rt_ion_plan(path)
    assert back.label == "writer test" and back.fractions_planned == 3 and back.prescription_dose_gy == 6.0
    assert back.frame_of_reference_uid == phantom.volume.frame_of_reference_uid and back.patient_position == "HFS"
    assert back.referenced_structure_set_uid == plan.referenced_structure_set_uid
    assert len(back.beams) == len(plan.beams)
    for mine, read in zip(plan.beams, back.beams):
        assert (read.name, read.number, read.range_shifter_ids) == (mine.name, mine.number, mine.range_shifter_ids)
        assert (read.gantry_angle_deg, read.couch_angle_deg) == (mine.gantry_angle_deg, mine.couch_angle_deg)
        assert read.isocenter_mm == pytest.approx(mine.isocenter_mm)
        assert read.virtual_source_axis_distances_mm == pytest.approx(model.virtual_source_axis_distance_mm)
        assert read.total_mu == pytest.approx(mine.total_mu, rel=1e-6)
        layers = [layer for layer in mine.layers if np.any(layer.spot_mu > 0)]
        assert read.energies_mev == pytest.approx([layer.nominal_energy_mev for layer in layers], abs=1e-9)
        for a, b in zip(layers, read.layers):
            given = a.spot_mu > 0
            assert b.spot_x_mm == pytest.approx(a.spot_x_mm[given], abs=1e-5)
            assert b.spot_y_mm == pytest.approx(a.spot_y_mm[given], abs=1e-5)
            assert b.spot_mu == pytest.approx(a.spot_mu[given], rel=1e-6)
            assert b.scanning_spot_size_mm == pytest.approx(a.scanning_spot_size_mm, rel=1e-6)
            if mine.range_shifter_ids:
                assert b.range_shifter_setting == "IN"
                assert b.isocenter_to_range_shifter_mm == pytest.approx(model.range_shifters["RS_3CM"].isocenter_distance_mm)


def test_the_file_is_a_conformant_pbs_rt_ion_plan(plan, model, phantom, tmp_path, monkeypatch):
    monkeypatch.setattr(pydicom.config.settings, "writing_validation_mode", pydicom.config.RAISE)
    path = write_rt_ion_plan(plan, tmp_path / "RP.dcm", ct=phantom.volume, beam_model=model)
    ds = pydicom.dcmread(path)
    meta = ds.file_meta
    assert meta.MediaStorageSOPClassUID == RT_ION_PLAN_STORAGE == ds.SOPClassUID
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert meta.ImplementationClassUID and meta.FileMetaInformationVersion == b"\x00\x01"
    assert ds.Modality == "RTPLAN" and ds.StudyInstanceUID == phantom.volume.study_instance_uid
    assert ds.SeriesInstanceUID != phantom.volume.series_instance_uid
    assert ds.PatientIdentityRemoved == "YES" and ds.RTPlanGeometry == "PATIENT"
    assert ds.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID == plan.referenced_structure_set_uid
    group = ds.FractionGroupSequence[0]
    assert group.NumberOfBeams == 2 and group.NumberOfFractionsPlanned == 3
    for item, ref, beam in zip(ds.IonBeamSequence, group.ReferencedBeamSequence, plan.beams):
        assert (item.ScanMode, item.BeamType, item.RadiationType) == ("MODULATED", "STATIC", "PROTON")
        cps = item.IonControlPointSequence
        assert item.NumberOfControlPoints == len(cps) == 2 * sum(np.any(layer.spot_mu > 0) for layer in beam.layers)
        assert float(item.FinalCumulativeMetersetWeight) == pytest.approx(float(ref.BeamMeterset))
        assert float(ref.BeamMeterset) == pytest.approx(beam.total_mu, rel=1e-6)
        cumulative = 0.0
        for opening, closing in zip(cps[::2], cps[1::2]):
            weights = np.asarray(opening.ScanSpotMetersetWeights, float)
            assert float(opening.CumulativeMetersetWeight) == pytest.approx(cumulative, abs=1e-6)
            cumulative += weights.sum()
            assert float(closing.CumulativeMetersetWeight) == pytest.approx(cumulative, rel=1e-9)
            assert not np.any(np.asarray(closing.ScanSpotMetersetWeights))
            assert opening.NumberOfScanSpotPositions == weights.size == len(opening.ScanSpotPositionMap) // 2
            assert opening.NominalBeamEnergy == closing.NominalBeamEnergy
        assert cumulative == pytest.approx(float(item.FinalCumulativeMetersetWeight), rel=1e-9)
        first = cps[0]
        assert float(first.GantryAngle) == beam.gantry_angle_deg and float(first.PatientSupportAngle) == beam.couch_angle_deg
    assert ds.IonBeamSequence[1].RangeShifterSequence[0].RangeShifterID == "RS_3CM"
    assert ds.IonBeamSequence[1].IonControlPointSequence[0].RangeShifterSettingsSequence[0].RangeShifterSetting == "IN"


def test_it_writes_the_standard_attributes_the_clinical_systems_write(plan, model, phantom, tmp_path):
    """Every standard attribute that both Eclipse and RayStation put on an ion beam and on its first control
    point is in ours, except device descriptions braggdesk does not know (snout, magnets, couch ID)."""
    ours = pydicom.dcmread(write_rt_ion_plan(plan, tmp_path / "RP.dcm", ct=phantom.volume, beam_model=model))
    unknown = {"SnoutSequence", "LateralSpreadingDeviceSequence", "LateralSpreadingDeviceSettingsSequence",
               "PatientSupportID", "PatientSupportAccessoryCode", "Manufacturer", "ManufacturerModelName",
               "ReferencedDoseReferenceSequence", "MetersetRate", "RangeShifterSequence", "RangeShifterSettingsSequence",
               "NumberOfLateralSpreadingDevices"}

    def keywords(item):
        return {e.keyword for e in item if e.keyword and not e.tag.is_private}

    clinical = [pydicom.dcmread(p) for p in CLINICAL]
    beam_common = set.intersection(*(keywords(ds.IonBeamSequence[0]) for ds in clinical)) - {"IonControlPointSequence"}
    cp_common = set.intersection(*(keywords(ds.IonBeamSequence[0].IonControlPointSequence[0]) for ds in clinical))
    top_common = set.intersection(*(keywords(ds) for ds in clinical))
    assert beam_common - unknown - keywords(ours.IonBeamSequence[0]) == set()
    assert cp_common - unknown - keywords(ours.IonBeamSequence[0].IonControlPointSequence[0]) == set()
    assert top_common - {"InstitutionName", "OperatorsName", "ReviewDate", "ReviewTime", "ReviewerName",
                         "DoseReferenceSequence"} - keywords(ours) == set()


def test_a_plan_the_file_cannot_hold_is_refused_by_name(plan, model, phantom, tmp_path):
    other = make_phantom("water", spacing_mm=5.0).volume
    with pytest.raises(PlanError, match=r"plan 'writer test' is on frame of reference .* the CT on"):
        write_rt_ion_plan(plan, tmp_path / "RP.dcm", ct=other, beam_model=model)
    silent = design_plan(phantom.volume, phantom.calibration, model, target(phantom.volume), [0.0])
    for layer in silent.beams[0].layers:
        layer.spot_weights[:] = 0.0
    with pytest.raises(PlanError, match=r"beam 'G0' delivers no monitor units"):
        write_rt_ion_plan(silent, tmp_path / "RP.dcm", ct=phantom.volume, beam_model=model)


def test_braggdesk_run_recalculates_the_written_plan(model, tmp_path, capsys):
    from braggdesk.cli import main

    small = make_phantom("water", spacing_mm=6.0)
    folder = tmp_path / "ct"
    write_phantom(small, folder)
    mask = target(small.volume, y=(-60.0, -40.0), half=8.0)
    designed = design_plan(small.volume, small.calibration, model, mask, [0.0],
                           settings=DesignSettings(spot_spacing_mm=8.0, layer_spacing_mm=8.0), label="run test")
    rp = write_rt_ion_plan(designed, tmp_path / "RP.dcm", ct=small.volume, beam_model=model)
    out = tmp_path / "RD.dcm"
    rc = main(["run", "--ct", str(folder), "--plan", str(rp), "--beam-model", str(MODEL_V2), "--primaries", "2000",
               "--batches", "1", "--device", "cpu", "--out", str(out), "--json", "-"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    summary = json.loads(captured.out[captured.out.index("{"):])
    assert summary["primaries"] == 2000 and summary["max_dose_gy"] > 0
    dose = pydicom.dcmread(out)
    assert dose.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == pydicom.dcmread(rp).SOPInstanceUID
    grid = dose.pixel_array * float(dose.DoseGridScaling)
    assert grid.shape == small.volume.shape
    # the spread-out peak: the target gets more dose than the entrance, and nothing lies beyond its distal edge
    ys = small.volume.axis_coordinates_mm()[1]
    depth_dose = grid[:, :, :].sum(axis=(0, 2))
    in_target = depth_dose[(ys >= -60) & (ys <= -40)].mean()
    entrance = depth_dose[(ys >= -95) & (ys <= -85)].mean()
    beyond = depth_dose[ys >= -20].sum()
    assert in_target > 1.2 * entrance and beyond < 0.05 * depth_dose.sum()
