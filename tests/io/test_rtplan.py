"""RT Ion Plan reader against the real Eclipse and RayStation plans of the shared data sets."""

from __future__ import annotations

import dataclasses
import glob
from pathlib import Path

import numpy as np
import pydicom
import pytest

from braggdesk.errors import InputError
from braggdesk.io.rtplan import read_rt_ion_plan

DATA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
PLANS = DATA / "dcpt-let-2022" / "plans"
PLAN01 = PLANS / "plan01_sobp_eclipse" / "RN.1.2.246.352.71.5.37402163639.178319.20221207095327.dcm"
PLAN02 = PLANS / "plan02_mono_eclipse" / "RN.1.2.246.352.71.5.37402163639.178320.20221207095327.dcm"
SPOTLIST02 = PLANS / "plan02_mono_eclipse" / "spotlist_plan02_field01.dat"
PLAN03 = PLANS / "plan03_sobp_raystation" / "RP1.2.752.243.1.1.20221209141208883.9000.73261.dcm"
DOSE03 = PLANS / "plan03_sobp_raystation" / "RD1.2.752.243.1.1.20221209141208883.1000.23750.dcm"
RAMPED = PLANS / "plan03_ramp_full_raystation" / "ramped_2Gy_ver2_full.dcm"
PLAN06 = PLANS / "plan06_sobp_4d_rangeshifter_raystation" / "RP1.2.752.243.1.1.20260105182345801.4870.23686.dcm"
QA = DATA / "pymchelper-qa-pattern" / "RN.1.2.246.352.71.5.361940808526.37240.20200311150225.dcm"

ALL_PLANS = sorted(glob.glob(str(PLANS / "*" / "RN*.dcm")) + glob.glob(str(PLANS / "*" / "RP*.dcm"))
                   + [str(RAMPED)] + glob.glob(str(DATA / "pymchelper-qa-pattern" / "RN*.dcm")))

pytestmark = pytest.mark.skipif(not PLANS.is_dir(), reason="shared data sets not available")


@pytest.mark.parametrize("path", ALL_PLANS, ids=lambda p: Path(p).parent.name + "/" + Path(p).name[:12])
def test_every_real_plan_reads_consistently(path):
    plan = read_rt_ion_plan(path)
    ds = pydicom.dcmread(path)
    assert plan.beams
    assert plan.sop_instance_uid == ds.SOPInstanceUID
    assert plan.frame_of_reference_uid == ds.FrameOfReferenceUID
    assert plan.referenced_structure_set_uid == ds.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID
    assert plan.patient_position == "HFS"
    meterset = {int(rb.ReferencedBeamNumber): float(rb.BeamMeterset)
                for rb in ds.FractionGroupSequence[0].ReferencedBeamSequence}
    for beam in plan.beams:
        assert beam.virtual_source_axis_distances_mm == (2000.0, 2560.0)
        assert beam.radiation_type == "PROTON" and beam.beam_type == "MODULATED"
        for layer in beam.layers:
            assert layer.n_spots > 0 and np.all(layer.spot_weights > 0)
            assert layer.mu_per_weight == pytest.approx(meterset[beam.number] / beam.final_cumulative_meterset_weight)
            assert layer.spot_tune_id != "" and layer.scanning_spot_size_mm is not None
        # all the beam's meterset is in its spots
        assert beam.total_mu == pytest.approx(meterset[beam.number], rel=1e-6)


@pytest.mark.parametrize("path", ALL_PLANS, ids=lambda p: Path(p).name[:16])
def test_plan_holds_no_patient_identity(path):
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    plan = read_rt_ion_plan(path)
    fields = {f.name: getattr(plan, f.name) for f in dataclasses.fields(plan) if f.name != "source_path"}
    text = repr(fields)
    for value in (str(ds.PatientName), str(ds.PatientID)):
        assert value not in text


def test_plan01_sobp_eclipse():
    plan = read_rt_ion_plan(PLAN01)
    assert plan.label == "1_SOBP_2Gy" and plan.fractions_planned == 1
    assert plan.prescription_dose_gy == pytest.approx(2.2)
    (beam,) = plan.beams
    assert len(beam.layers) == 21 and beam.n_spots == 6069
    assert beam.energies_mev.min() == pytest.approx(83.419) and beam.energies_mev.max() == pytest.approx(149.419)
    assert np.all(np.diff(beam.energies_mev) < 0)  # delivered from the highest energy down
    assert beam.gantry_angle_deg == 0 and beam.couch_angle_deg == 0 and beam.isocenter_mm == (0.0, 0.0, 0.0)
    assert beam.treatment_machine == "TR2"
    assert beam.snout_position_mm == pytest.approx(127.8, abs=0.05)
    assert beam.final_cumulative_meterset_weight == pytest.approx(19117.08202)
    assert beam.meterset_mu == pytest.approx(41806.7405069583)
    assert beam.range_shifter_ids == []


def test_plan02_mono_eclipse():
    plan = read_rt_ion_plan(PLAN02)
    (beam,) = plan.beams
    (layer,) = beam.layers
    assert layer.nominal_energy_mev == 160.0 and layer.n_spots == 323
    assert beam.isocenter_mm == (0.0, -80.0, 0.0)
    assert layer.scanning_spot_size_mm == pytest.approx((9.7878, 8.9566), abs=1e-4)
    assert np.ptp(layer.spot_weights) == 0  # a uniform layer


def test_plan02_matches_the_pymchelper_spot_list():
    """spotlist X, Y (cm, 2 decimals) are ScanSpotPositionMap x, y / 10: same axes, same signs, same order."""
    layer = read_rt_ion_plan(PLAN02).beams[0].layers[0]
    table = np.loadtxt(SPOTLIST02, comments="*")
    assert table.shape == (layer.n_spots, 7)
    np.testing.assert_allclose(table[:, 2], layer.spot_x_mm / 10.0, atol=0.006)
    np.testing.assert_allclose(table[:, 3], layer.spot_y_mm / 10.0, atol=0.006)
    # the same set and order is not an accident of a symmetric grid: swapping or mirroring an axis breaks it
    assert np.max(np.abs(table[:, 2] - layer.spot_y_mm / 10.0)) > 0.1
    assert np.max(np.abs(table[:, 3] + layer.spot_y_mm / 10.0)) > 0.1
    # the WEIGHT column is protons per spot; relative weights are equal, as in the plan
    np.testing.assert_allclose(table[:, 6] / table[:, 6].mean(), layer.spot_weights / layer.spot_weights.mean())


def test_qa_pattern_four_beams():
    plan = read_rt_ion_plan(QA)
    assert plan.label == "TR3QAplan v02"
    assert [b.energies_mev.tolist() for b in plan.beams] == [[80.0], [130.0], [160.0], [210.0]]
    for beam in plan.beams:
        (layer,) = beam.layers
        assert layer.n_spots == 117
        assert np.all(layer.spot_weights == 10.0)
        assert beam.meterset_mu == 2340.0 and beam.final_cumulative_meterset_weight == 1170.0
        np.testing.assert_allclose(layer.spot_mu, 20.0)
        assert sorted(set(layer.spot_x_mm.round(3))) == list(np.arange(-120.0, 121.0, 30.0))
        assert sorted(set(layer.spot_y_mm.round(3))) == list(np.arange(-180.0, 181.0, 30.0))
        assert beam.snout_position_mm == 421.0 and beam.treatment_machine == "TR3"


def test_ramped_plan_two_opposed_beams():
    plan = read_rt_ion_plan(RAMPED)
    assert [b.gantry_angle_deg for b in plan.beams] == [90.0, 270.0]
    for beam in plan.beams:
        assert len(beam.layers) == 22 and beam.n_spots == 9218
        assert beam.energies_mev.min() == pytest.approx(83.5) and beam.energies_mev.max() == pytest.approx(149.4)
        assert beam.meterset_mu == pytest.approx(39294.15)
    assert plan.prescription_dose_gy is None  # its only dose reference is an organ at risk


def test_raystation_sobp():
    (beam,) = read_rt_ion_plan(PLAN03).beams
    assert len(beam.layers) == 34 and beam.n_spots == 9218
    assert beam.energies_mev.min() == pytest.approx(78.5) and beam.energies_mev.max() == pytest.approx(149.9)
    assert beam.layers[0].mu_per_weight == pytest.approx(1.0)
    assert beam.layers[0].spot_tune_id == "4"


def test_range_shifter_plan():
    plan = read_rt_ion_plan(PLAN06)
    (beam,) = plan.beams
    assert beam.range_shifter_ids == ["RS_3CM"]
    assert beam.isocenter_mm == pytest.approx((0.0, -55.0, -0.446302))
    assert len(beam.layers) == 15 and beam.n_spots == 5775
    for layer in beam.layers:  # stated on the first control point only, carried to every layer
        assert layer.range_shifter_setting == "IN"
        assert layer.isocenter_to_range_shifter_mm == pytest.approx(135.9, abs=1e-3)
    assert beam.snout_position_mm == pytest.approx(92.9, abs=1e-4)


# ---------------------------------------------------------------- vendor variants and broken files


def _edited_qa(tmp_path: Path, edit) -> Path:
    ds = pydicom.dcmread(QA)
    edit(ds)
    out = tmp_path / "edited.dcm"
    ds.save_as(out)
    return out


def test_setup_beams_are_skipped(tmp_path):
    def edit(ds):
        ds.IonBeamSequence[0].TreatmentDeliveryType = "SETUP"
    plan = read_rt_ion_plan(_edited_qa(tmp_path, edit))
    assert [b.number for b in plan.beams] == [2, 3, 4]


def test_weights_on_the_closing_control_point_and_zero_weight_spots(tmp_path):
    def edit(ds):
        cp0, cp1 = ds.IonBeamSequence[0].IonControlPointSequence
        weights = [10.0] * 117
        weights[5] = 0.0
        cp1.ScanSpotMetersetWeights = weights
        cp0.ScanSpotMetersetWeights = [0.0] * 117
    beam = read_rt_ion_plan(_edited_qa(tmp_path, edit)).beams[0]
    (layer,) = beam.layers
    assert layer.nominal_energy_mev == 80.0  # carried from the first control point
    assert layer.n_spots == 116


def test_beam_not_in_the_fraction_group_is_left_out(tmp_path):
    def edit(ds):
        del ds.FractionGroupSequence[0].ReferencedBeamSequence[3]
    assert [b.number for b in read_rt_ion_plan(_edited_qa(tmp_path, edit)).beams] == [1, 2, 3]


def test_spot_count_mismatch_is_an_input_error(tmp_path):
    def edit(ds):
        ds.IonBeamSequence[1].IonControlPointSequence[0].NumberOfScanSpotPositions = 118
    with pytest.raises(InputError, match="beam 'Field_2', control point 0: 117 spot weights"):
        read_rt_ion_plan(_edited_qa(tmp_path, edit))


def test_missing_fraction_group_is_an_input_error(tmp_path):
    def edit(ds):
        del ds.FractionGroupSequence
    with pytest.raises(InputError, match="FractionGroupSequence"):
        read_rt_ion_plan(_edited_qa(tmp_path, edit))


def test_an_rt_dose_is_not_a_plan():
    with pytest.raises(InputError) as err:
        read_rt_ion_plan(DOSE03)
    assert str(DOSE03) in str(err.value)
    assert "is an RT Dose" in str(err.value) and "expected an RT Ion Plan" in str(err.value)


def test_unreadable_files_name_the_file(tmp_path):
    text = tmp_path / "plan.txt"
    text.write_text("not a plan")
    with pytest.raises(InputError, match="plan.txt: is not a DICOM file"):
        read_rt_ion_plan(text)
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(QA.read_bytes()[:3000])
    with pytest.raises(InputError, match="truncated.dcm"):
        read_rt_ion_plan(truncated)
    with pytest.raises(InputError, match="no such file"):
        read_rt_ion_plan(tmp_path / "missing.dcm")


def test_range_shifter_id_finds_its_water_equivalent_thickness_in_the_beam_model():
    from braggdesk.io.beam_model_reader import read_beam_model

    (beam,) = read_rt_ion_plan(PLAN06).beams
    for model in (read_beam_model(None), read_beam_model(DATA / "dcpt-let-2022" / "beam_model" / "DCPT_beam_model__v5.csv")):
        shifter = model.range_shifters[beam.range_shifter_ids[0]]
        assert shifter.water_equivalent_thickness_mm == pytest.approx(34.3)
        assert beam.layers[0].isocenter_to_range_shifter_mm == pytest.approx(shifter.isocenter_distance_mm)


def test_couch_angle_and_isocenter_per_beam(tmp_path):
    def edit(ds):
        first = ds.IonBeamSequence[1].IonControlPointSequence[0]
        first.PatientSupportAngle = 270.0
        first.GantryAngle = 90.0
        first.IsocenterPosition = [12.5, -40.0, 7.25]
        ds.IonBeamSequence[2].VirtualSourceAxisDistances = [1900.0, 2300.0]
    plan = read_rt_ion_plan(_edited_qa(tmp_path, edit))
    assert [b.couch_angle_deg for b in plan.beams] == [0.0, 270.0, 0.0, 0.0]
    assert plan.beams[1].gantry_angle_deg == 90.0
    assert plan.beams[1].isocenter_mm == (12.5, -40.0, 7.25) and plan.beams[0].isocenter_mm != (12.5, -40.0, 7.25)
    assert plan.beams[2].virtual_source_axis_distances_mm == (1900.0, 2300.0)


def test_cumulative_metersets_give_monitor_units_per_spot():
    """Eclipse: CumulativeMetersetWeight runs 0 -> FinalCumulativeMetersetWeight over layer pairs."""
    ds = pydicom.dcmread(PLAN01)
    beam_ds = ds.IonBeamSequence[0]
    cumulative = [float(cp.CumulativeMetersetWeight) for cp in beam_ds.IonControlPointSequence]
    assert cumulative[0] == 0 and cumulative[-1] == pytest.approx(float(beam_ds.FinalCumulativeMetersetWeight))
    (beam,) = read_rt_ion_plan(PLAN01).beams
    layer_weights = [layer.spot_weights.sum() for layer in beam.layers]
    # each layer's spot weights are the step of the cumulative meterset over its pair of control points
    np.testing.assert_allclose(layer_weights, np.diff(cumulative)[::2], rtol=1e-6)
