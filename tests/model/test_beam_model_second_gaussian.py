"""BeamModel's second Gaussian: defaults that keep single-Gaussian callers unchanged, checks, old pickles."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from braggdesk.model import BeamModel, SpotOptics
from braggdesk.model.beam_model import _COLUMNS, _SECOND_GAUSSIAN, BeamModelError


def single(energies=(100.0, 200.0), **kwargs) -> BeamModel:
    """Built positionally, the way code written before the second Gaussian builds it (benchcases/engine_speed.py)."""
    e = np.asarray(energies, float)
    z = np.zeros_like(e)
    return BeamModel("pencil", e, e.copy(), z + 1.0, z + 1e6, z + 3.0, z + 3.0, z + 0.003, z + 0.003, z, z,
                     500.0, (2000.0, 2000.0), **kwargs)


def halo(weight2=(0.05, 0.03), **overrides) -> dict[str, np.ndarray]:
    columns = {"weight2": weight2, "sigma_x2_mm": (30.0, 20.0), "sigma_y2_mm": (28.0, 18.0),
               "divergence_x2_rad": (0.03, 0.02), "divergence_y2_rad": (0.025, 0.015),
               "correlation_x2": (0.1, -0.1), "correlation_y2": (0.2, -0.2)}
    columns.update(overrides)
    return {k: np.asarray(v, float) for k, v in columns.items()}


def test_spot_optics_and_model_columns_agree():
    """optics() fills SpotOptics from _COLUMNS by name: the two lists must not drift apart."""
    assert tuple(f.name for f in dataclasses.fields(SpotOptics)) == _COLUMNS
    assert _COLUMNS[-len(_SECOND_GAUSSIAN):] == _SECOND_GAUSSIAN


def test_single_gaussian_callers_get_weight_zero():
    o = SpotOptics(150.0, 150.5, 1.0, 1e6, 3.0, 3.0, 0.003, 0.003, 0.0, 0.0)
    assert o.weight2 == 0.0 and o.sigma_x2_mm == 0.0 and o.correlation_y2 == 0.0
    model = single()
    assert not model.double_gaussian
    for name in _SECOND_GAUSSIAN:
        np.testing.assert_array_equal(getattr(model, name), [0.0, 0.0])
    assert model.optics(150.0) == dataclasses.replace(model.optics(150.0), weight2=0.0)


def test_second_gaussian_sorted_and_interpolated_with_the_rest():
    model = single(energies=(200.0, 100.0), **halo())  # rows given high energy first
    np.testing.assert_array_equal(model.nominal_energy_mev, [100.0, 200.0])
    np.testing.assert_array_equal(model.weight2, [0.03, 0.05])
    np.testing.assert_array_equal(model.sigma_x2_mm, [20.0, 30.0])
    o = model.optics(125.0)
    assert o.weight2 == pytest.approx(0.035) and o.sigma_x2_mm == pytest.approx(22.5)
    assert o.correlation_y2 == pytest.approx(-0.2 + 0.4 / 4)
    assert model.double_gaussian


@pytest.mark.parametrize("overrides, message", [
    ({"weight2": (1.0, 0.0)}, "nominal energy 100 MeV: weight2 = 1 is outside [0, 1)"),
    ({"weight2": (0.0, -0.01)}, "nominal energy 200 MeV: weight2 = -0.01 is outside [0, 1)"),
    ({"weight2": (0.0, np.nan)}, "nominal energy 200 MeV: weight2 = nan is outside [0, 1)"),
    ({"sigma_y2_mm": (0.0, 18.0)},
     "nominal energy 100 MeV: sigma_y2_mm = 0 is not positive, but the second Gaussian has a weight"),
    ({"divergence_x2_rad": (0.03, -0.02)}, "nominal energy 200 MeV: divergence_x2_rad = -0.02 is negative"),
    ({"correlation_x2": (1.0, 0.0)}, "nominal energy 100 MeV: correlation_x2 = 1 is not between -1 and 1 (exclusive)"),
])
def test_impossible_second_gaussian_refused(overrides, message):
    with pytest.raises(BeamModelError) as info:
        single(source_path="/models/halo.bdl", **halo(**overrides))
    assert str(info.value) == f"/models/halo.bdl: {message}"
    assert isinstance(info.value, ValueError)


def test_weightless_second_gaussian_needs_no_size():
    """A weight of 0 is a single Gaussian: its (unused) size may be 0, as in the defaults."""
    model = single(**halo(weight2=(0.0, 0.0), sigma_x2_mm=(0.0, 0.0)))
    assert not model.double_gaussian


def test_first_gaussian_checked_too_and_model_named_without_file():
    e = np.array([100.0, 200.0])
    with pytest.raises(BeamModelError, match=r"^beam model 'bad': nominal energy 200 MeV: correlation_y = -1\.2 is"):
        BeamModel("bad", e, e, e * 0, e * 0 + 1e6, e * 0 + 3, e * 0 + 3, e * 0, e * 0, e * 0, np.array([0.0, -1.2]),
                  500.0)


def test_column_of_wrong_length_refused():
    with pytest.raises(ValueError, match="weight2 has 3 values for 2 nominal energies"):
        single(weight2=np.zeros(3))


def test_model_pickled_before_the_second_gaussian_unpickles_as_single_gaussian():
    model = single()
    for name in _SECOND_GAUSSIAN:  # what a pickle written by the previous version holds
        del model.__dict__[name]
    back = pickle.loads(pickle.dumps(model))
    assert not back.double_gaussian
    assert back.optics(150.0).weight2 == 0.0 and back.optics(150.0).sigma_x_mm == 3.0
    halo_model = single(**halo())
    assert pickle.loads(pickle.dumps(halo_model)).optics(150.0) == halo_model.optics(150.0)
