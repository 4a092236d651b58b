"""Built-in phantoms: materials at the right depths, calibrations that mean them, and a DICOM round trip."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.io.ct_calibration import read_ct_calibration
from braggdesk.io.dicom_ct import read_ct_series
from braggdesk.io.phantoms import PHANTOM_HU, PHANTOM_NAMES, Phantom, make_phantom, write_phantom


def _axis(phantom: Phantom, iso=(0.0, 0.0, 0.0)):
    """Depths (y relative to the isocentre) of the row centres and the HU along the central axis."""
    v = phantom.volume
    x, y, z = v.axis_coordinates_mm()
    i = int(np.argmin(np.abs(x - iso[0])))
    k = int(np.argmin(np.abs(z - iso[2])))
    return y - iso[1], v.values[k, :, i]


def _material_of(phantom: Phantom, hu: float) -> str:
    return phantom.calibration.materials[int(phantom.calibration.material_index(hu))].name


@pytest.mark.parametrize("name", PHANTOM_NAMES)
def test_calibration_means_exactly_the_phantom_materials(name):
    phantom = make_phantom(name, spacing_mm=5.0)
    cal = phantom.calibration
    used = np.unique(phantom.volume.hu)
    assert len(used) == len(cal.materials)
    for hu in used:
        material = cal.materials[int(cal.material_index(hu))]
        assert PHANTOM_HU[material.name] == hu
        assert cal.density(hu) == pytest.approx(material.density_g_cm3, rel=1e-12)
        assert sum(material.mass_fractions.values()) == pytest.approx(1.0, abs=1e-12)
    assert phantom.volume.hu.dtype == np.float32


@pytest.mark.parametrize("name", PHANTOM_NAMES)
def test_every_phantom_starts_in_air(name):
    phantom = make_phantom(name)
    depth, hu = _axis(phantom)
    first = phantom.slabs[0].depth_start_mm
    upstream = depth < first
    assert upstream.sum() * phantom.volume.spacing_mm[1] >= 10.0
    assert np.all(hu[upstream] == PHANTOM_HU["Air"])
    assert hu[-1] == PHANTOM_HU["Air"]  # air downstream too
    # lateral air margin: the first and last columns and slices are air
    v = phantom.volume.hu
    for edge in (v[0], v[-1], v[:, :, 0], v[:, :, -1]):
        assert np.all(edge == PHANTOM_HU["Air"])


def test_water_box():
    phantom = make_phantom("water", isocenter_mm=(5.0, -20.0, 10.0))
    depth, hu = _axis(phantom, iso=(5.0, -20.0, 10.0))
    assert np.all(hu[(depth > -100) & (depth < 200)] == 0.0)
    assert np.all(hu[(depth < -100) | (depth > 200)] == -1000.0)
    inside = phantom.volume.hu == 0.0
    counts = [inside.any(axis=a).sum() for a in ((0, 1), (0, 2), (1, 2))]  # columns, rows, slices touched
    assert [c * 2.0 for c in counts] == [200.0, 300.0, 200.0]
    x, y, z = phantom.volume.axis_coordinates_mm()
    assert x[inside.any(axis=(0, 1))].mean() == pytest.approx(5.0)  # centred laterally on the isocentre
    assert z[inside.any(axis=(1, 2))].mean() == pytest.approx(10.0)


def test_slab_phantom_materials_at_their_depths():
    phantom = make_phantom("slab")
    depth, hu = _axis(phantom)
    expect = {-95: "Water", -79: "Bone_Cortical", -61: "Bone_Cortical", -50: "Water", -39: "Lung", -11: "Lung",
              0: "Water", 150: "Water", -105: "Air"}
    for d, material in expect.items():
        row = int(np.argmin(np.abs(depth - d)))
        assert _material_of(phantom, hu[row]) == material, d
    assert phantom.calibration.density(PHANTOM_HU["Bone_Cortical"]) == pytest.approx(1.92)
    assert phantom.calibration.density(PHANTOM_HU["Lung"]) == pytest.approx(0.26)


@pytest.mark.parametrize("spacing", [(2.0, 0.5, 2.0), 2.5])
def test_dcpt_geometry_d_is_exact_when_the_voxels_allow(spacing):
    phantom = make_phantom("dcpt", geometry="D", isocenter_mm=(0.0, -80.0, 0.0), spacing_mm=spacing)
    depth, hu = _axis(phantom, iso=(0.0, -80.0, 0.0))
    dy = phantom.volume.spacing_mm[1]
    pmma = hu == PHANTOM_HU["PMMA"]
    solid = hu == PHANTOM_HU["Solid_Water_HE"]
    assert depth[pmma].min() - dy / 2 == pytest.approx(-2.5)
    assert depth[pmma].max() + dy / 2 == pytest.approx(2.5)
    assert depth[solid].min() - dy / 2 == pytest.approx(-22.5)
    assert depth[solid].max() + dy / 2 == pytest.approx(182.5)
    assert [(s.material, s.depth_start_mm, s.depth_end_mm) for s in phantom.slabs] == [
        ("Solid_Water_HE", -22.5, -2.5), ("PMMA", -2.5, 2.5), ("Solid_Water_HE", 2.5, 182.5)]
    assert "moved" not in phantom.description


def test_dcpt_default_is_geometry_a_and_isotropic_2mm_rounding_is_documented():
    phantom = make_phantom("dcpt")
    assert phantom.volume.spacing_mm == (2.0, 2.0, 2.0)
    assert "geometry A" in phantom.description
    first, plate, second = phantom.slabs
    assert (first.depth_start_mm, first.depth_end_mm) == (-102.5, -2.5)  # anchored on the plate's upstream face
    assert plate.depth_start_mm == -2.5 and plate.depth_end_mm - plate.depth_start_mm in (4.0, 6.0)
    assert "moved to voxel edges" in phantom.description
    depth, hu = _axis(phantom)
    assert np.sum(hu == PHANTOM_HU["PMMA"]) * 2.0 == plate.depth_end_mm - plate.depth_start_mm
    x, _, z = phantom.volume.axis_coordinates_mm()
    inside = phantom.volume.hu != PHANTOM_HU["Air"]
    assert inside.any(axis=(0, 1)).sum() * 2.0 == 300.0 and inside.any(axis=(1, 2)).sum() * 2.0 == 300.0


@pytest.mark.parametrize("geometry, plate_start_mm", [("A", -2.5), ("B", 47.5), ("C", 49.5), ("E", 18.9),
                                                       ("F", 18.0), ("G", 57.6)])
def test_dcpt_geometries_put_the_plate_where_the_document_says(geometry, plate_start_mm):
    phantom = make_phantom("dcpt", geometry=geometry.lower(), spacing_mm=(10.0, 0.1, 10.0))
    first, plate, second = phantom.slabs
    assert plate.depth_start_mm == pytest.approx(plate_start_mm)
    assert plate.depth_end_mm - plate.depth_start_mm == pytest.approx(5.0)
    assert second.depth_end_mm - first.depth_start_mm == pytest.approx(205.0)
    assert phantom.material_at_depth(plate_start_mm + 2.5) == "PMMA"
    assert phantom.material_at_depth(plate_start_mm - 0.05) == "Solid_Water_HE"


@pytest.mark.parametrize("geometry", ["F", "G"])
def test_range_shifter_geometries_mention_it_but_keep_it_out_of_the_ct(geometry):
    phantom = make_phantom("dcpt", geometry=geometry, spacing_mm=5.0)
    assert "range shifter" in phantom.description and "not part of this CT" in phantom.description
    assert set(np.unique(phantom.volume.hu)) == {-1000.0, 20.0, 120.0}


def test_dcpt_calibration_densities():
    cal = make_phantom("dcpt", spacing_mm=5.0).calibration
    assert cal.density(PHANTOM_HU["Solid_Water_HE"]) == pytest.approx(1.032)
    assert cal.density(PHANTOM_HU["PMMA"]) == pytest.approx(1.19)
    assert cal.density(PHANTOM_HU["Air"]) == pytest.approx(0.00120479)
    solid = cal.materials[int(cal.material_index(PHANTOM_HU["Solid_Water_HE"]))]
    assert solid.mass_fractions["C"] == pytest.approx(0.673, rel=1e-3)


def test_uids_are_reproducible_per_configuration():
    a = make_phantom("dcpt", geometry="B", spacing_mm=5.0).volume
    b = make_phantom("dcpt", geometry="B", spacing_mm=5.0).volume
    c = make_phantom("dcpt", geometry="C", spacing_mm=5.0).volume
    assert a.frame_of_reference_uid == b.frame_of_reference_uid != c.frame_of_reference_uid
    assert a.series_instance_uid != a.frame_of_reference_uid


def test_bad_arguments():
    with pytest.raises(ValueError, match="water, slab, dcpt"):
        make_phantom("bone")
    with pytest.raises(ValueError, match="geometry"):
        make_phantom("dcpt", geometry="H")
    with pytest.raises(ValueError, match="no geometries"):
        make_phantom("water", geometry="A")
    with pytest.raises(ValueError, match="spacing"):
        make_phantom("water", spacing_mm=0.0)


def test_written_phantom_reads_back_identically(tmp_path):
    phantom = make_phantom("dcpt", geometry="D", isocenter_mm=(0.0, -80.0, 0.0), spacing_mm=(10.0, 2.5, 10.0))
    paths = write_phantom(phantom, tmp_path)
    assert paths[-1] == tmp_path / "ct_calibration.csv"
    assert paths[-2] == tmp_path / "RS_phantom.dcm"
    assert len(paths) == phantom.volume.shape[0] + 2
    ct = read_ct_series(tmp_path)
    np.testing.assert_array_equal(ct.hu, phantom.volume.hu)
    assert ct.origin_mm == pytest.approx(phantom.volume.origin_mm)
    assert ct.spacing_mm == pytest.approx(phantom.volume.spacing_mm)
    assert ct.frame_of_reference_uid == phantom.volume.frame_of_reference_uid
    cal = read_ct_calibration(tmp_path)
    np.testing.assert_array_equal(cal.density_hu, phantom.calibration.density_hu)
    np.testing.assert_array_equal(cal.density_g_cm3, phantom.calibration.density_g_cm3)
    np.testing.assert_array_equal(cal.material_hu_min, phantom.calibration.material_hu_min)
    assert [m.name for m in cal.materials] == [m.name for m in phantom.calibration.materials]
    for got, want in zip(cal.materials, phantom.calibration.materials):
        assert got.mass_fractions == pytest.approx(want.mass_fractions)
    for hu in np.unique(ct.hu):  # the calibration read back still means the phantom's materials
        assert cal.density(hu) == pytest.approx(phantom.calibration.density(hu))


def test_written_phantom_has_structures_of_its_slabs(tmp_path):
    from braggdesk.analysis.rasterize import rasterize_structure_set
    from braggdesk.io.rtstruct import read_rtstruct

    phantom = make_phantom("slab", spacing_mm=5.0)
    write_phantom(phantom, tmp_path)
    ct = read_ct_series(tmp_path)
    structures = read_rtstruct(tmp_path / "RS_phantom.dcm")
    assert structures.names() == ["External", "Water", "Bone_Cortical", "Lung"]
    assert structures.by_name("External").roi_type == "EXTERNAL"
    for mask in rasterize_structure_set(structures, ct):
        expected = ct.hu != PHANTOM_HU["Air"] if mask.name == "External" else ct.hu == PHANTOM_HU[mask.name]
        np.testing.assert_array_equal(mask.fraction, expected.astype(np.float32), err_msg=mask.name)
    lung = next(s for s in phantom.slabs if s.material == "Lung")
    assert rasterize_structure_set(structures, ct, names=["Lung"])[0].volume_cm3 == pytest.approx(
        200 * 200 * (lung.depth_end_mm - lung.depth_start_mm) * 1e-3)
