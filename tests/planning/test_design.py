"""Plan design on the built-in phantoms, checked against depths and extents worked out here from the
geometry (slab thicknesses, material stopping powers, the target's voxel edges), not from the design code."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from braggdesk.errors import BraggdeskWarning, PlanError
from braggdesk.io.beam_model_reader import read_beam_model
from braggdesk.io.phantoms import AIR, BONE_CORTICAL, LUNG, make_phantom
from braggdesk.model import Roi, StructureMask
from braggdesk.model.plan_design import BeamSpec, DesignSettings
from braggdesk.physics.material_constants import material_physics
from braggdesk.physics.water import water_table
from braggdesk.planning.design import design_beam, design_plan
from braggdesk.planning.layers import bragg_peak_width_80_mm

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dcpt-let-2022"
MODEL_V2 = DATA / "beam_model" / "DCPT_beam_model__v2.csv"
VOXEL_MM = 3.0
MARGIN_MM = 5.0
SPACING_MM = 5.0
SETTINGS = DesignSettings(spot_spacing_mm=SPACING_MM, margin_mm=MARGIN_MM)


@pytest.fixture(scope="module")
def model():
    return read_beam_model(MODEL_V2)


@pytest.fixture(scope="module")
def water():
    return make_phantom("water", spacing_mm=VOXEL_MM)


@pytest.fixture(scope="module")
def slab():
    return make_phantom("slab", spacing_mm=VOXEL_MM)


def box_mask(volume, x=(-20.0, 20.0), y=(0.0, 30.0), z=(-15.0, 15.0)):
    """Voxels whose centre lies in the box (mm, patient coordinates; the phantoms' isocentre is 0)."""
    xs, ys, zs = volume.axis_coordinates_mm()
    inside = [(c >= lo) & (c <= hi) for c, (lo, hi) in zip((xs, ys, zs), (x, y, z))]
    return inside[2][:, None, None] & inside[1][None, :, None] & inside[0][None, None, :]


def voxel_edges(volume, mask, axis):
    """Outer edges (mm) of the mask's voxels along patient axis 0 (x), 1 (y) or 2 (z)."""
    coords = volume.axis_coordinates_mm()[axis]
    used = np.nonzero(mask.any(axis=tuple(a for a in (0, 1, 2) if a != 2 - axis)))[0]
    half = 0.5 * volume.spacing_mm[axis]
    return coords[used.min()] - half, coords[used.max()] + half


def csda_range_mm(model, nominal_mev):
    mean = np.interp(nominal_mev, model.nominal_energy_mev, model.mean_energy_mev)
    return 10.0 * float(water_table().range_g_cm2(np.array([mean]))[0])


def layer_ranges(model, beam, shifter_wet_mm=0.0):
    return np.array([csda_range_mm(model, e) for e in beam.energies_mev]) - shifter_wet_mm


def air_wet_mm(phantom, model, iso_y=0.0):
    """Air between the reference plane and the water surface, on the central axis of a gantry-0 beam."""
    surface_y = phantom.slabs[0].depth_start_mm
    return (model.reference_plane_to_isocenter_mm - (iso_y - surface_y)) * material_physics(AIR).relative_stopping_power


def test_layers_span_the_target_water_equivalent_depth_plus_margin(model, water):
    mask = box_mask(water.volume)
    beam = design_beam(water.volume, water.calibration, model, mask, 0.0, isocenter_mm=(0, 0, 0),
                       settings=DesignSettings(spot_spacing_mm=SPACING_MM, layer_spacing_mm=4.0, margin_mm=MARGIN_MM))
    y_lo, y_hi = voxel_edges(water.volume, mask, 1)
    surface = water.slabs[0].depth_start_mm
    air = air_wet_mm(water, model)
    distal = y_hi - surface + MARGIN_MM + air
    proximal = y_lo - surface - MARGIN_MM + air
    ranges = layer_ranges(model, beam)
    assert np.all(np.diff(beam.energies_mev) < 0), "layers deepest first"
    assert ranges[0] == pytest.approx(distal, abs=0.5)
    assert proximal - 2.0 - 0.5 <= ranges[-1] <= proximal + 2.0 + 0.5
    assert np.diff(ranges) == pytest.approx(-4.0, abs=0.2)
    assert all(e in model.nominal_energy_mev for e in beam.energies_mev)


def test_default_layer_spacing_follows_the_bragg_peak_width(model, water):
    beam = design_beam(water.volume, water.calibration, model, box_mask(water.volume), 0.0, settings=SETTINGS)
    steps = -np.diff(layer_ranges(model, beam))
    assert np.all((steps > 2.5) & (steps < 6.5))
    # pristine peaks widen with energy (straggling ~ R^0.935) and with energy spread
    widths = [bragg_peak_width_80_mm(e, float(np.interp(e, model.nominal_energy_mev, model.energy_spread_mev)))
              for e in (70.0, 150.0, 230.0)]
    assert 2.0 < widths[0] < 4.0 and 3.5 < widths[1] < 6.0 and 5.0 < widths[2] < 9.0
    assert bragg_peak_width_80_mm(150.0, 0.0) < bragg_peak_width_80_mm(150.0, 1.0)


def test_spots_cover_the_beams_eye_view_of_the_target_plus_margin(model, water):
    volume = water.volume
    mask = box_mask(volume)
    beam = design_beam(volume, water.calibration, model, mask, 0.0, isocenter_mm=(0, 0, 0), settings=SETTINGS)
    x_lo, x_hi = voxel_edges(volume, mask, 0)  # gantry 0, HFS: BEV x is patient x, BEV y is patient z
    z_lo, z_hi = voxel_edges(volume, mask, 2)
    y_lo, _ = voxel_edges(volume, mask, 1)
    sx, sy = model.virtual_source_axis_distance_mm
    w = y_lo - MARGIN_MM  # the proximal face is nearest the source: its projection is the widest
    x_max = (x_hi + MARGIN_MM) * sx / (sx + w)
    y_max = (z_hi + MARGIN_MM) * sy / (sy + w)
    xs = np.concatenate([layer.spot_x_mm for layer in beam.layers])
    ys = np.concatenate([layer.spot_y_mm for layer in beam.layers])
    assert x_max - SPACING_MM < xs.max() <= x_max + 1e-6 and y_max - SPACING_MM < ys.max() <= y_max + 1e-6
    assert xs.min() == pytest.approx(-xs.max()) and ys.min() == pytest.approx(-ys.max())
    assert np.allclose(np.round(xs / SPACING_MM) * SPACING_MM, xs) and np.allclose(np.round(ys / SPACING_MM) * SPACING_MM, ys)
    # a layer in the middle of the target holds every lattice point of the margin-expanded box
    # (rounded corners of radius = margin), 0.5 mm either way for divergence
    middle = beam.layers[len(beam.layers) // 2]
    got = set(zip(np.round(middle.spot_x_mm, 3), np.round(middle.spot_y_mm, 3)))
    grid = np.arange(-60, 61, SPACING_MM)
    gx, gy = np.meshgrid(grid, grid)
    dx = np.maximum(np.abs(gx) - x_hi, 0)
    dy = np.maximum(np.abs(gy) - z_hi, 0)
    dist = np.hypot(dx, dy)
    must = set(zip(np.round(gx[dist < MARGIN_MM - 0.5], 3), np.round(gy[dist < MARGIN_MM - 0.5], 3)))
    may = set(zip(np.round(gx[dist < MARGIN_MM + 0.5], 3), np.round(gy[dist < MARGIN_MM + 0.5], 3)))
    assert must <= got <= may
    assert np.all(np.concatenate([layer.spot_weights for layer in beam.layers]) == 1.0)
    assert beam.total_mu == pytest.approx(beam.n_spots) and beam.meterset_mu == pytest.approx(beam.n_spots)


def test_a_spherical_target_gets_smaller_layers_at_its_ends(model, water):
    xs, ys, zs = water.volume.axis_coordinates_mm()
    r2 = xs[None, None, :] ** 2 + (ys[None, :, None] - 20.0) ** 2 + zs[:, None, None] ** 2
    beam = design_beam(water.volume, water.calibration, model, r2 <= 20.0**2, 0.0, settings=SETTINGS)
    counts = np.array([layer.n_spots for layer in beam.layers])
    assert counts[0] < counts.max() / 3 and counts[-1] < counts.max() / 3
    assert beam.isocenter_mm == pytest.approx((0.0, 20.0, 0.0), abs=0.01)  # the target's centroid


def test_a_bone_and_lung_upstream_shift_the_layers_by_their_extra_water_equivalent_thickness(model, water, slab):
    assert slab.volume.shape == water.volume.shape and slab.volume.origin_mm == water.volume.origin_mm
    mask = box_mask(water.volume, y=(10.0, 40.0))  # downstream of the lung (60-90 mm deep: y -40..-10)
    settings = DesignSettings(spot_spacing_mm=SPACING_MM, layer_spacing_mm=4.0, margin_mm=MARGIN_MM)
    in_water = design_beam(water.volume, water.calibration, model, mask, 0.0, settings=settings)
    in_slab = design_beam(slab.volume, slab.calibration, model, mask, 0.0, settings=settings)
    extra = 0.0
    for s in slab.slabs:
        material = {"Bone_Cortical": BONE_CORTICAL, "Lung": LUNG}.get(s.material)
        if material is not None:
            extra += (s.depth_end_mm - s.depth_start_mm) * (material_physics(material).relative_stopping_power - 1.0)
    assert abs(extra) > 5.0
    shift = layer_ranges(model, in_slab) - extra
    assert shift[0] == pytest.approx(layer_ranges(model, in_water)[0], abs=0.5)
    assert shift[-1] == pytest.approx(layer_ranges(model, in_water)[-1], abs=2.5)


@pytest.mark.parametrize("gantry, sign", [(90.0, 1.0), (270.0, -1.0)])
def test_lateral_gantry_puts_the_patients_anterior_posterior_axis_on_bev_x(model, water, gantry, sign):
    # target 20 mm wide in x and z, 40 mm along y (posterior of the isocentre only)
    mask = box_mask(water.volume, x=(-10.0, 10.0), y=(0.0, 40.0), z=(-10.0, 10.0))
    y_lo, y_hi = voxel_edges(water.volume, mask, 1)
    x_lo, x_hi = voxel_edges(water.volume, mask, 0)
    front = design_beam(water.volume, water.calibration, model, mask, 0.0, isocenter_mm=(0, 0, 0), settings=SETTINGS)
    side = design_beam(water.volume, water.calibration, model, mask, gantry, isocenter_mm=(0, 0, 0), settings=SETTINGS)
    fx = np.concatenate([layer.spot_x_mm for layer in front.layers])
    sx = np.concatenate([layer.spot_x_mm for layer in side.layers])
    assert fx.min() == pytest.approx(x_lo - MARGIN_MM, abs=SPACING_MM) and fx.max() == pytest.approx(x_hi + MARGIN_MM, abs=SPACING_MM)
    bev = sorted(sign * np.array([y_lo - MARGIN_MM, y_hi + MARGIN_MM]))
    assert sx.min() == pytest.approx(bev[0], abs=SPACING_MM) and sx.max() == pytest.approx(bev[1], abs=SPACING_MM)
    # the side beam crosses 20 mm of target (plus margins) in depth, the front beam 40 mm: fewer layers
    assert len(side.layers) < len(front.layers)


def test_a_hexagonal_lattice_covers_as_well_with_fewer_spots(model, water):
    """Largest gap from any point to its nearest spot: s / sqrt(2) on a square lattice, s / sqrt(3) on a
    hexagonal one; at sqrt(3/2) x the spacing a hexagonal lattice covers as well with ~23 % fewer spots."""
    mask = box_mask(water.volume, x=(-40.0, 40.0), z=(-40.0, 40.0))
    square = design_beam(water.volume, water.calibration, model, mask, 0.0, settings=SETTINGS)
    wide = SPACING_MM * np.sqrt(1.5)
    hexagonal = design_beam(water.volume, water.calibration, model, mask, 0.0,
                            settings=DesignSettings(spot_spacing_mm=wide, lattice="hexagonal"))
    layer = hexagonal.layers[len(hexagonal.layers) // 2]
    rows = np.unique(np.round(layer.spot_y_mm, 6))
    assert np.diff(rows) == pytest.approx(wide * np.sqrt(3) / 2)
    assert 0.65 < hexagonal.n_spots / square.n_spots < 0.85


def test_a_note_goes_to_the_callers_list_instead_of_a_warning_when_a_list_is_given(model, water):
    """A worker thread's caller (the planning session) must not need warnings.catch_warnings: process-wide."""
    mask = box_mask(water.volume, y=(-70.0, -50.0))  # shallower in part than 70 MeV stops
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        design_plan(water.volume, water.calibration, model, mask, [0.0], settings=SETTINGS, notes=notes)
    assert len(notes) == 1 and notes[0].startswith("beam 'G0': the target's shallowest part")


def test_a_range_shifter_raises_the_energies_by_its_water_equivalent_thickness(model, water):
    mask = box_mask(water.volume, y=(-70.0, -50.0))  # 30-50 mm deep: too shallow for 70 MeV (41 mm) with margin
    with pytest.warns(BraggdeskWarning, match=r"beam 'G0': the target's shallowest part .*RS_3CM"):
        design_beam(water.volume, water.calibration, model, mask, 0.0, settings=SETTINGS)
    skin = box_mask(water.volume, y=(-95.0, -85.0))  # 5-15 mm deep: no energy of the model stops there
    with pytest.raises(PlanError, match=r"beam 'G0' cannot reach the target: all of it lies shallower.*RS_3CM"):
        design_beam(water.volume, water.calibration, model, skin, 0.0, settings=SETTINGS)
    beam = design_beam(water.volume, water.calibration, model, mask, 0.0, range_shifter_id="RS_3CM", settings=SETTINGS)
    rs = model.range_shifters["RS_3CM"]
    rs_wet = rs.water_equivalent_thickness_mm or rs.thickness_mm * material_physics(rs.composition).relative_stopping_power
    y_lo, y_hi = voxel_edges(water.volume, mask, 1)
    distal = y_hi - water.slabs[0].depth_start_mm + MARGIN_MM + air_wet_mm(water, model)
    assert layer_ranges(model, beam, rs_wet)[0] == pytest.approx(distal, abs=0.5)
    assert beam.range_shifter_ids == ["RS_3CM"]
    assert all(layer.range_shifter_setting == "IN" for layer in beam.layers)
    with pytest.raises(PlanError, match="range shifter 'RS_9CM' is not in the beam model"):
        design_beam(water.volume, water.calibration, model, mask, 0.0, range_shifter_id="RS_9CM", settings=SETTINGS)


def test_a_target_deeper_than_the_highest_energy_is_refused_with_the_depths(model, slab):
    bone = slab.volume.with_values(np.where(slab.volume.hu == 0.0, 1200.0, slab.volume.hu).astype(np.float32), unit="HU")
    mask = box_mask(bone, y=(150.0, 170.0))  # 250-270 mm of bone: about 450 mm WET
    with pytest.raises(PlanError, match=r"beam 'deep' cannot reach the target: it needs a water-equivalent depth of "
                                        r"\d+\.\d mm .* reaches at most 3\d\d\.\d mm"):
        design_beam(bone, slab.calibration, model, mask, 0.0, name="deep", settings=SETTINGS)


def test_a_target_outside_the_ct_is_refused(model, water):
    empty = np.zeros(water.volume.shape, bool)
    with pytest.raises(PlanError, match=r"target 'PTV' has no voxel inside the CT"):
        design_beam(water.volume, water.calibration, model, empty, 0.0, target_name="PTV")
    with pytest.raises(PlanError, match=r"target 'PTV': its mask has shape"):
        design_beam(water.volume, water.calibration, model, empty[:-1], 0.0, target_name="PTV")
    other = make_phantom("water", spacing_mm=4.0).volume
    structure = StructureMask(Roi(1, "CTV"), other, np.ones(other.shape, np.float32))
    with pytest.raises(PlanError, match=r"target 'CTV' is rasterised on another grid"):
        design_beam(water.volume, water.calibration, model, structure, 0.0)


def test_design_plan_shares_one_isocentre_and_takes_the_cts_frame(model, water):
    mask = box_mask(water.volume)
    structure = StructureMask(Roi(7, "PTV"), water.volume, mask.astype(np.float32))
    plan = design_plan(water.volume, water.calibration, model, structure, [0.0, BeamSpec(90.0, name="left")],
                       settings=SETTINGS, label="test", fractions=5, prescription_dose_gy=10.0, structure_set_uid="1.2.3")
    assert [b.name for b in plan.beams] == ["G0", "left"] and [b.number for b in plan.beams] == [1, 2]
    assert plan.beams[0].isocenter_mm == plan.beams[1].isocenter_mm
    assert plan.frame_of_reference_uid == water.volume.frame_of_reference_uid and plan.patient_position == "HFS"
    assert plan.fractions_planned == 5 and plan.referenced_structure_set_uid == "1.2.3"
    with pytest.raises(ValueError, match="lattice must be one of"):
        DesignSettings(lattice="triangular")
    with pytest.raises(ValueError, match="spot_spacing_mm must be a positive"):
        DesignSettings(spot_spacing_mm=0.0)


def test_spot_rays_are_the_engines_central_rays(model, water):
    """The design traces the very rays the engine shoots: compare with the engine's own spot table."""
    from braggdesk.engine.geometry import GridFrame
    from braggdesk.engine.source import _central_rays, build_spot_table
    from braggdesk.model import Plan
    from braggdesk.planning.design import _beam_rays
    from braggdesk.planning.raytrace import spot_rays

    beam = design_beam(water.volume, water.calibration, model, box_mask(water.volume), 30.0, couch_deg=20.0,
                       settings=SETTINGS)
    grid = GridFrame.of(water.volume)
    table = build_spot_table(Plan("p", [beam]), model, grid, "HFS")
    start, direction = spot_rays(_beam_rays(beam, model, grid, "HFS"), table.x_iso_mm, table.y_iso_mm)
    engine_start, engine_direction = _central_rays(table)
    assert np.allclose(start, engine_start) and np.allclose(direction, engine_direction)
