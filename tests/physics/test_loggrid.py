"""The one interpolator type: tables on a grid uniform in ln(x), and the scalar lookup a kernel repeats."""

from __future__ import annotations

import math

import numpy as np
import pytest

from braggdesk.physics.loggrid import LogGrid, LogTable


def _kernel_lookup(table: LogTable, x: float, row: int = 0) -> float:
    """What a compiled kernel does with (log_x0, inv_dlog, n, values): scalar code, end values held."""
    u = (math.log(x) - table.log_x0) * table.inv_dlog
    u = min(max(u, 0.0), table.n - 1.000001)
    i = int(u)
    f = u - i
    v = table.as_float32()
    v = v if v.ndim == 2 else v[None, :]
    return float(v[row, i] + f * (v[row, i + 1] - v[row, i]))


def test_grid_nodes_are_uniform_in_log_and_end_exactly():
    grid = LogGrid(0.1, 400.0, 2048)
    x = grid.nodes()
    assert x[0] == 0.1 and x[-1] == 400.0 and len(x) == 2048
    assert np.allclose(np.diff(np.log(x)), grid.dlog, rtol=1e-9)
    assert grid.inv_dlog == pytest.approx(1 / grid.dlog) and grid.log_x0 == math.log(0.1)


@pytest.mark.parametrize(("x_min", "x_max", "n"), [(0.0, 1.0, 10), (2.0, 1.0, 10), (1.0, 2.0, 1), (1.0, math.inf, 5)])
def test_bad_grids_are_refused(x_min, x_max, n):
    with pytest.raises(ValueError, match="log grid"):
        LogGrid(x_min, x_max, n)


def test_a_power_law_is_interpolated_to_its_curvature_and_exact_at_nodes():
    grid = LogGrid(1.0, 400.0, 2048)
    table = LogTable.sample(grid, lambda e: e ** -0.8)
    x = grid.nodes()
    assert np.allclose(table.lookup(x), x ** -0.8, rtol=1e-12, atol=0)
    mid = np.sqrt(x[:-1] * x[1:])
    assert np.max(np.abs(table.lookup(mid) / mid ** -0.8 - 1)) < 2e-5


def test_outside_the_grid_values_hold_or_extrapolate():
    grid = LogGrid(1.0, math.e ** 2, 3)  # nodes 1, e, e^2
    table = LogTable(grid, np.array([0.0, 1.0, 3.0]))
    assert table.lookup(0.5) == 0.0 and table.lookup(100.0) == 3.0
    assert table.lookup(math.e ** 3, extrapolate=True) == pytest.approx(5.0)  # last interval continued in ln x
    assert table.lookup(math.exp(-1), extrapolate=True) == pytest.approx(-1.0)
    assert table.lookup(0.0) == 0.0  # x <= 0 holds the first value


def test_rows_share_one_grid_position():
    grid = LogGrid(1.0, 100.0, 50)
    table = LogTable.sample(grid, [lambda e: e, lambda e: 2 * e, np.sqrt])
    assert table.values.shape == (3, 50)
    x = np.array([1.5, 30.0, 99.0])
    every = table.lookup(x)
    assert every.shape == (3, 3)
    assert np.allclose(every[1], 2 * every[0])
    picked = table.lookup(x, rows=np.array([2, 0, 1]))
    assert np.array_equal(picked, [every[2, 0], every[0, 1], every[1, 2]])
    assert LogTable.sample(grid, []).values.shape == (0, 50)


def test_the_kernel_scalar_lookup_gives_the_same_values_in_float32():
    grid = LogGrid(1.0, 400.0, 512)
    table = LogTable.sample(grid, [np.log, lambda e: 1.0 / e])
    for x in (1.0, 3.3, 99.9, 400.0, 1000.0):
        for row in (0, 1):
            assert _kernel_lookup(table, x, row) == pytest.approx(float(table.lookup(x, row)), rel=1e-6)


def test_values_are_read_only_and_shapes_checked():
    table = LogTable(LogGrid(1.0, 10.0, 4), [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError):
        table.values[0] = 5.0
    assert table.as_float32().dtype == np.float32 and table.as_float32().flags.c_contiguous
    with pytest.raises(ValueError, match="shape"):
        LogTable(LogGrid(1.0, 10.0, 4), np.zeros(5))
