"""Partial sums of a Monte Carlo run, and their exact merge.

Sums, not means (as OpenMC tallies): every energy sum is an int64 count of
``ENERGY_QUANTUM_MEV`` units, so snapshots from threads, nodes and cluster
workers add up to the same bits in any order.  Only ``batch_sq_sum`` (the
batch-method variance term, sum over batches of S_b^2 / n_b) is float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ENERGY_QUANTUM_MEV = 1e-6  # 1 eV: deposits are rounded to this before summing
ENERGY_SQ_QUANTUM_MEV2 = 1e-6  # quantum of the per-history squared deposits
LET_QUANTUM = 1e-6  # quantum of energy x LET (MeV x keV/um)


_ARRAYS = ("energy", "energy_sq", "batch_sq_sum", "let_numerator", "let_energy")


@dataclass
class Snapshot:
    """Sums over the primaries of one or more batches, per voxel (flat, C order of the CT).

    A snapshot is dense (each array holds every voxel) or sparse: ``voxels`` lists the flat indices
    (sorted, unique) that the arrays hold, out of ``n_voxels``, and every other voxel is zero.  A
    batch deposits energy in a small part of the grid, so the engine hands out sparse snapshots and
    the runners merge them into one dense total (:class:`Accumulator`); methods that need the whole
    grid (uncertainty, dose) work on :meth:`dense`.
    """

    primaries: int
    energy: np.ndarray  # int64, sum of deposited energy [ENERGY_QUANTUM_MEV]
    energy_sq: np.ndarray  # int64, sum over histories of (deposit per history)^2 [ENERGY_SQ_QUANTUM_MEV2]
    batch_sq_sum: np.ndarray  # float64, sum over batches of (energy_b [MeV])^2 / n_b
    let_numerator: np.ndarray  # int64, sum of proton energy x LET in water [LET_QUANTUM]
    let_energy: np.ndarray  # int64, proton energy entering the LET average [ENERGY_QUANTUM_MEV]
    batches: tuple[int, ...] = ()
    compute_seconds: float = 0.0  # summed over batches (device time, not wall time)
    device: str = ""
    job_id: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    counters: dict[str, int] = field(default_factory=dict)  # diagnostics, e.g. nonelastic events
    voxels: np.ndarray | None = None  # sparse: the voxels the arrays hold; None: dense
    n_voxels: int = 0  # the grid's voxel count (set for sparse snapshots; dense ones have energy.size)

    def __post_init__(self) -> None:
        if self.voxels is None:
            self.n_voxels = int(self.energy.size)

    @classmethod
    def empty(cls, n_voxels: int, job_id: str = "", device: str = "") -> "Snapshot":
        zi = lambda: np.zeros(n_voxels, dtype=np.int64)  # noqa: E731
        return cls(0, zi(), zi(), np.zeros(n_voxels), zi(), zi(), job_id=job_id, device=device)

    @property
    def is_sparse(self) -> bool:
        return self.voxels is not None

    @property
    def n_batches(self) -> int:
        return len(self.batches)

    def dense(self) -> "Snapshot":
        """This snapshot with every voxel in its arrays (itself if already dense)."""
        if self.voxels is None:
            return self
        arrays = {}
        for name in _ARRAYS:
            values = getattr(self, name)
            full = np.zeros(self.n_voxels, dtype=values.dtype)
            full[self.voxels] = values
            arrays[name] = full
        return Snapshot(self.primaries, **arrays, **self._meta())

    def copy(self) -> "Snapshot":
        """A snapshot with its own arrays (dense or sparse as this one)."""
        voxels = None if self.voxels is None else self.voxels.copy()
        return Snapshot(self.primaries, **{n: getattr(self, n).copy() for n in _ARRAYS}, **self._meta(),
                        voxels=voxels, n_voxels=self.n_voxels)

    def _meta(self) -> dict:
        return dict(batches=self.batches, compute_seconds=self.compute_seconds, device=self.device,
                    job_id=self.job_id, notes=self.notes, counters=dict(self.counters))

    def _check_mergeable(self, other: "Snapshot") -> None:
        if other.n_voxels != self.n_voxels:
            raise ValueError(f"cannot merge snapshots of {self.n_voxels} and {other.n_voxels} voxels")
        if self.job_id and other.job_id and self.job_id != other.job_id:
            raise ValueError(f"cannot merge snapshots of jobs {self.job_id} and {other.job_id}")
        overlap = set(self.batches) & set(other.batches)
        if overlap:
            raise ValueError(f"batches {sorted(overlap)[:5]} would be counted twice")

    def _merged_meta(self, other: "Snapshot") -> dict:
        devices = sorted({d for d in (self.device, other.device) if d})
        return dict(
            batches=tuple(sorted(self.batches + other.batches)),
            compute_seconds=self.compute_seconds + other.compute_seconds,
            device=", ".join(devices),
            job_id=self.job_id or other.job_id,
            notes=tuple(dict.fromkeys(self.notes + other.notes)),
            counters={k: self.counters.get(k, 0) + other.counters.get(k, 0)
                      for k in sorted(set(self.counters) | set(other.counters))},
        )

    def __add__(self, other: "Snapshot") -> "Snapshot":
        self._check_mergeable(other)
        a, b = self.dense(), other.dense()
        return Snapshot(self.primaries + other.primaries, **{n: getattr(a, n) + getattr(b, n) for n in _ARRAYS},
                        **self._merged_meta(other))

    def add_in_place(self, other: "Snapshot") -> "Snapshot":
        """self += other, for a dense self that nobody else holds (an accumulator's total); returns self."""
        if self.voxels is not None:
            raise ValueError("add_in_place needs a dense snapshot to add into")
        self._check_mergeable(other)
        meta = self._merged_meta(other)
        index = slice(None) if other.voxels is None else other.voxels
        for name in _ARRAYS:
            getattr(self, name)[index] += getattr(other, name)  # sparse indices are unique: no repeats lost
        self.primaries += other.primaries
        for key, value in meta.items():
            setattr(self, key, value)
        return self

    def energy_mev(self) -> np.ndarray:
        return self.dense().energy * ENERGY_QUANTUM_MEV

    def relative_uncertainty(self) -> np.ndarray:
        """History-by-history relative standard error of the mean per voxel (0 where no dose).

        Each history's deposits in a voxel (a primary's and all of its secondaries') are summed
        before squaring (engine/kernel/scoring.py), so the estimator needs no independence between
        the pieces of a history; a test checks it against the spread of independent seeds.
        """
        return self.dense()._relative_uncertainty_at(slice(None))
    def _relative_uncertainty_at(self, voxels) -> np.ndarray:
        """:meth:`relative_uncertainty` of the voxels ``voxels`` (an index or mask) only."""
        n = self.primaries
        s = self.energy[voxels] * ENERGY_QUANTUM_MEV
        out = np.zeros(s.shape)
        if n < 2:
            return out
        s2 = self.energy_sq[voxels] * ENERGY_SQ_QUANTUM_MEV2
        hit = s > 0
        mean = s[hit] / n
        var_mean = np.maximum(s2[hit] / n - mean**2, 0.0) / (n - 1)
        out[hit] = np.sqrt(var_mean) / mean
        return out

    def batch_relative_uncertainty(self) -> np.ndarray:
        """Batch-method relative standard error per voxel (needs at least 2 batches)."""
        if self.voxels is not None:
            return self.dense().batch_relative_uncertainty()
        k, n = self.n_batches, self.primaries
        out = np.zeros(self.energy.shape)
        if k < 2 or n == 0:
            return out
        s = self.energy * ENERGY_QUANTUM_MEV
        hit = s > 0
        mu = s[hit] / n
        var_mean = np.maximum(self.batch_sq_sum[hit] - n * mu**2, 0.0) / ((k - 1) * n)
        out[hit] = np.sqrt(var_mean) / mu
        return out

    def mean_relative_uncertainty(self, dose_weight: np.ndarray | None = None, threshold: float = 0.5) -> float:
        """Mean history-by-history relative uncertainty over voxels above ``threshold`` of the maximum.

        ``dose_weight`` converts energy to dose per voxel (Gy per MeV); without it energy is used.
        """
        if self.voxels is not None:
            return self.dense().mean_relative_uncertainty(dose_weight, threshold)
        e = self.energy * (ENERGY_QUANTUM_MEV if dose_weight is None else ENERGY_QUANTUM_MEV * dose_weight)
        if self.primaries < 2 or not np.any(e > 0):
            return float("inf")
        sel = e >= threshold * e.max()
        return float(np.mean(self._relative_uncertainty_at(sel)))

    def let_kev_um(self) -> np.ndarray:
        """Dose-averaged LET in water, keV/um (0 where no proton deposited energy)."""
        if self.voxels is not None:
            return self.dense().let_kev_um()
        out = np.zeros(self.energy.shape)
        hit = self.let_energy > 0
        out[hit] = (self.let_numerator[hit] * LET_QUANTUM) / (self.let_energy[hit] * ENERGY_QUANTUM_MEV)
        return out


class Accumulator:
    """Merges a stream of Snapshots into one dense total; what a runner or a GUI keeps while a job runs.

    The total is added to in place (a grid-sized copy per batch would cost more than many a batch),
    so it changes with every :meth:`add`: :meth:`Snapshot.copy` it to keep a state.
    """

    def __init__(self) -> None:
        self.total: Snapshot | None = None
        self._uncertainty: tuple[tuple, float] | None = None  # (state it was computed for, value)

    def mean_relative_uncertainty(self, dose_weight: np.ndarray | None = None) -> float:
        """The total's :meth:`Snapshot.mean_relative_uncertainty`, computed once per merged batch (the engine's
        stopping rule and a runner's progress both ask for it after every batch)."""
        if self.total is None:
            return float("inf")
        state = (self.total.batches, self.total.primaries, id(dose_weight))
        if self._uncertainty is None or self._uncertainty[0] != state:
            self._uncertainty = (state, self.total.mean_relative_uncertainty(dose_weight))
        return self._uncertainty[1]

    def add(self, snapshot: Snapshot) -> Snapshot:
        if self.total is None:
            self.total = snapshot.dense() if snapshot.is_sparse else snapshot.copy()
        else:
            self.total.add_in_place(snapshot)
        return self.total
