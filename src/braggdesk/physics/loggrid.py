"""Tables on a grid uniform in ln(x): the one interpolator type of braggdesk's physics data.

Why one type: stopping powers, ranges and cross sections all span decades of energy, and a
grid uniform in ln(x) finds a table index with one log and one multiply, ``u = (ln x - log_x0)
* inv_dlog``, the same arithmetic in numpy, in a Numba kernel or on a GPU.  The water range and
energy tables (:mod:`.water`) and the per-material nuclear tables (:mod:`.nuclear`) are
:class:`LogTable` objects; a compiled kernel packs ``log_x0``, ``inv_dlog``, ``n`` and
``values`` (as float32 or float64 arrays) and repeats :meth:`LogTable.lookup` in scalar code.

Node ``i`` sits at ``x_i = exp(log_x0 + i / inv_dlog)``, ``i = 0 .. n-1``; between nodes the
value is linear in the table's value (not in ln x), which is what the kernel does too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["LogGrid", "LogTable"]


@dataclass(frozen=True)
class LogGrid:
    """``n`` nodes from ``x_min`` to ``x_max`` (both > 0), uniform in ln(x)."""

    x_min: float
    x_max: float
    n: int

    def __post_init__(self) -> None:
        if not (self.x_min > 0 and self.x_max > self.x_min and math.isfinite(self.x_max)):
            raise ValueError(f"a log grid needs 0 < x_min < x_max, found x_min={self.x_min!r}, x_max={self.x_max!r}")
        if self.n < 2:
            raise ValueError(f"a log grid needs at least 2 nodes, found n={self.n}")

    @property
    def log_x0(self) -> float:
        """ln(x_min): the offset of the index arithmetic."""
        return math.log(self.x_min)

    @property
    def dlog(self) -> float:
        """Spacing of the nodes in ln(x)."""
        return (math.log(self.x_max) - math.log(self.x_min)) / (self.n - 1)

    @property
    def inv_dlog(self) -> float:
        """1 / spacing in ln(x): node index u = (ln x - log_x0) * inv_dlog."""
        return (self.n - 1) / (math.log(self.x_max) - math.log(self.x_min))

    def nodes(self) -> np.ndarray:
        """The node positions x_i (float64); the first and last are exactly x_min and x_max."""
        x = np.exp(np.linspace(self.log_x0, math.log(self.x_max), self.n))
        x[0], x[-1] = self.x_min, self.x_max
        return x

    def position(self, x: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Lower node index ``i`` (0 .. n-2) and the unclamped fraction ``f = u - i`` of each x.

        ``f`` lies in [0, 1] inside the grid, below 0 under ``x_min`` and above 1 over ``x_max``,
        so a caller can hold or extrapolate at the ends; x <= 0 gives the first interval.
        """
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = (np.log(np.maximum(x, 1e-300)) - self.log_x0) * self.inv_dlog
        i = np.clip(np.floor(u), 0, self.n - 2).astype(np.int64)
        return i, u - i


@dataclass(frozen=True, eq=False)
class LogTable:
    """Values on a :class:`LogGrid`: shape ``(n,)`` for one function or ``(rows, n)`` for one per row.

    Rows are, e.g., the materials of a calibration: one grid position serves every row.
    ``values`` is float64 and read-only; :meth:`as_float32` gives the kernel's copy.
    """

    grid: LogGrid
    values: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        values = np.array(self.values, dtype=np.float64)
        if values.ndim not in (1, 2) or values.shape[-1] != self.grid.n:
            raise ValueError(f"table values must have shape (n,) or (rows, n) with n = {self.grid.n}, found {values.shape}")
        values.setflags(write=False)
        object.__setattr__(self, "values", values)

    @classmethod
    def sample(cls, grid: LogGrid, fn: Callable[[np.ndarray], np.ndarray]
               | Sequence[Callable[[np.ndarray], np.ndarray]]) -> LogTable:
        """Tabulate ``fn`` (or one row per function of a sequence) at the grid's nodes."""
        x = grid.nodes()
        if callable(fn):
            return cls(grid, np.asarray(fn(x), dtype=float))
        return cls(grid, np.array([np.asarray(f(x), dtype=float) for f in fn]).reshape(len(fn), grid.n))

    # what a kernel packs
    @property
    def log_x0(self) -> float:
        return self.grid.log_x0

    @property
    def inv_dlog(self) -> float:
        return self.grid.inv_dlog

    @property
    def n(self) -> int:
        return self.grid.n

    def as_float32(self) -> np.ndarray:
        """A C-contiguous float32 copy of the values (the precision the GPU kernel reads)."""
        return np.ascontiguousarray(self.values, dtype=np.float32)

    def lookup(self, x: np.ndarray | float, rows: np.ndarray | int | None = None, *,
               extrapolate: bool = False) -> np.ndarray:
        """The table at ``x``, linear in value between nodes.

        Outside the grid the end value is held, or with ``extrapolate`` the end interval's line is
        continued.  For a ``(rows, n)`` table, ``rows`` picks a row per element of ``x`` (broadcast
        with it); without ``rows`` every row is returned, shape ``(rows,) + x.shape``.
        """
        i, f = self.grid.position(x)
        f = f if extrapolate else np.clip(f, 0.0, 1.0)
        v = self.values
        if v.ndim == 1:
            return v[i] * (1.0 - f) + v[i + 1] * f
        if rows is None:
            return v[:, i] * (1.0 - f) + v[:, i + 1] * f
        r = np.asarray(rows)
        return v[r, i] * (1.0 - f) + v[r, i + 1] * f
