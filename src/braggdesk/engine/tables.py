"""Interpolation tables that live on the device and are read with index arithmetic.

A :class:`LogGridTable` samples f(x) on a grid uniform in log(x); a lookup is one
log, one multiply-add, one gather pair and a lerp, the same code on numpy and CuPy.
Several rows (one per material) share one grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass
class LogGridTable:
    log_x0: float
    inv_dlog: float
    n: int
    values: Any  # xp array (n,) or (rows, n), float32
    _rows_last: Any = None  # values transposed to (n, rows), made on first rows_at

    @classmethod
    def sample(cls, xp, fn: Callable[[np.ndarray], np.ndarray] | list[Callable], x_min: float, x_max: float,
               n: int = 2048) -> "LogGridTable":
        x = np.exp(np.linspace(np.log(x_min), np.log(x_max), n))
        rows = [f(x) for f in fn] if isinstance(fn, list) else fn(x)
        vals = np.asarray(rows, dtype=np.float64)
        return cls(float(np.log(x_min)), float((n - 1) / (np.log(x_max) - np.log(x_min))), n,
                   xp.asarray(vals, dtype=xp.float32))

    @classmethod
    def from_values(cls, xp, values: np.ndarray, x_min: float, x_max: float) -> "LogGridTable":
        """A table of values already sampled on the log grid from x_min to x_max (grid along axis 1,
        or axis 0 for one row); extra trailing axes are allowed (see :meth:`quantile`)."""
        values = np.asarray(values, dtype=np.float64)
        n = values.shape[1] if values.ndim > 1 else values.shape[0]
        return cls(float(np.log(x_min)), float((n - 1) / (np.log(x_max) - np.log(x_min))), n,
                   xp.asarray(values, dtype=xp.float32))

    def node(self, xp, x):
        """Lower grid node and lerp weight of each x (clamped to the grid); shared by :meth:`at` look-ups
        in tables on the same grid."""
        f = (xp.log(xp.maximum(x, 1e-30)) - self.log_x0) * self.inv_dlog
        f = xp.clip(f, 0.0, self.n - 1.000001)
        i = f.astype(xp.int32)
        return i, (f - i).astype(xp.float32)

    def rows_at(self, xp, x):
        """All rows interpolated at x with one index computation: a tuple of arrays."""
        i, w = self.node(xp, x)
        if self._rows_last is None:
            self._rows_last = xp.ascontiguousarray(self.values.T)
        lo, hi = self._rows_last[i], self._rows_last[i + 1]  # (m, rows): one gather per node
        out = lo + w[:, None] * (hi - lo)
        return tuple(out[:, r] for r in range(out.shape[1]))

    def at(self, xp, node, row):
        """Row ``row`` (one per element) interpolated at a :meth:`node`."""
        i, w = node
        lo, hi = self.values[row, i], self.values[row, i + 1]
        return lo + w * (hi - lo)

    def __call__(self, xp, x, row=None):
        """Linear interpolation at x (clamped to the grid); ``row`` picks a row per element."""
        node = self.node(xp, x)
        if row is not None:
            return self.at(xp, node, row)
        i, w = node
        return self.values[i] + w * (self.values[i + 1] - self.values[i])

    def quantile(self, xp, x, row, u):
        """Inverse-CDF lookup in a (rows, n, q) table of quantiles at u = 0, 1/(q-1), ..., 1:
        bilinear in (x, u), so a uniform ``u`` samples the distribution tabulated at x."""
        i, w = self.node(xp, x)
        nq = self.values.shape[2] - 1
        f = xp.clip(u * nq, 0.0, nq - 1e-4)
        j = f.astype(xp.int32)
        t = (f - j).astype(xp.float32)
        v = self.values
        lo = v[row, i, j] + t * (v[row, i, j + 1] - v[row, i, j])
        hi = v[row, i + 1, j] + t * (v[row, i + 1, j + 1] - v[row, i + 1, j])
        return lo + w * (hi - lo)
