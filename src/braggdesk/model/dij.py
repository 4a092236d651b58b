"""Partial sums of a dose-influence matrix (Dij): what a spot-resolved batch leaves, per spot.

A Dij batch runs ``histories`` primaries of each of its spots and keeps, for every (spot, row) it
touched, the integer energy sums the kernel scores for a dose (quanta of 1 eV, and per-history
squares).  ``row`` indexes the voxels of interest (the structures the objectives need, with a
margin), not the whole grid.  Like dose Snapshots these are sums, not means: batches from threads,
remote nodes and cluster workers merge exactly by concatenation and addition, in any order, and
the matrix in Gy per MU is made once at the end (:mod:`braggdesk.planning.dij`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class DijBatch:
    """The sums of one spot-resolved batch (or of several merged)."""

    n_spots: int  # spots of the whole plan
    n_rows: int  # voxels of interest
    histories: np.ndarray  # int64 [n_spots]: primaries simulated per spot in these sums
    spot: np.ndarray  # int32 [k]: spot of entry k
    row: np.ndarray  # int32 [k]: voxel-of-interest row of entry k
    energy: np.ndarray  # int64 [k]: summed deposits [ENERGY_QUANTUM_MEV]
    energy_sq: np.ndarray  # int64 [k]: summed per-history squares [ENERGY_SQ_QUANTUM_MEV2]
    batches: tuple[int, ...] = ()
    compute_seconds: float = 0.0
    device: str = ""
    job_id: str = ""
    counters: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.histories = np.asarray(self.histories, dtype=np.int64).reshape(-1)
        if self.histories.size != self.n_spots:
            raise ValueError(f"histories has {self.histories.size} entries for {self.n_spots} spots")
        if not (len(self.spot) == len(self.row) == len(self.energy) == len(self.energy_sq)):
            raise ValueError("Dij entries differ in length")

    @property
    def primaries(self) -> int:
        return int(self.histories.sum())

    @property
    def n_entries(self) -> int:
        return int(len(self.energy))

    @classmethod
    def merge(cls, parts: list["DijBatch"]) -> "DijBatch":
        """Sums of several batches of the same matrix, entries with the same (spot, row) added.

        Exact in any order: integer sums.  Refuses parts of different matrices or a batch twice.
        """
        if not parts:
            raise ValueError("nothing to merge")
        first = parts[0]
        seen: set[int] = set()
        for part in parts:
            if (part.n_spots, part.n_rows, part.job_id) != (first.n_spots, first.n_rows, first.job_id):
                raise ValueError("Dij batches of different matrices cannot be merged")
            if seen.intersection(part.batches):
                raise ValueError(f"Dij batch(es) {sorted(seen.intersection(part.batches))} merged twice")
            seen.update(part.batches)
        spot, row, energy, energy_sq = _merged_entries(parts, first.n_rows)
        counters: dict[str, int] = {}
        for part in parts:
            for name, value in part.counters.items():
                counters[name] = counters.get(name, 0) + int(value)
        return cls(first.n_spots, first.n_rows, sum(p.histories for p in parts), spot, row, energy,
                   energy_sq, tuple(sorted(seen)), sum(p.compute_seconds for p in parts),
                   ", ".join(sorted({p.device for p in parts if p.device})), first.job_id, counters)


def _merged_entries(parts: list[DijBatch], n_rows: int) -> tuple[np.ndarray, ...]:
    """(spot, row, energy, energy_sq) of the parts, sorted by (spot, row), equal (spot, row) entries added.

    Blocks of one pass hold disjoint spots, each already sorted: then the parts, ordered by their
    first spot, are simply joined.  Otherwise (a second pass over the same spots) the entries are
    sorted and summed."""
    ordered = sorted((p for p in parts if p.n_entries), key=lambda p: int(p.spot[0]))
    spans = [(int(p.spot[0]), int(p.spot[-1])) for p in ordered]
    disjoint = all(spans[i][1] < spans[i + 1][0] for i in range(len(spans) - 1))
    if disjoint and all(np.all(np.diff(p.spot.astype(np.int64) * n_rows + p.row) > 0) for p in ordered):
        return (np.concatenate([p.spot for p in ordered] or [np.zeros(0, np.int32)]).astype(np.int32),
                np.concatenate([p.row for p in ordered] or [np.zeros(0, np.int32)]).astype(np.int32),
                np.concatenate([p.energy for p in ordered] or [np.zeros(0, np.int64)]),
                np.concatenate([p.energy_sq for p in ordered] or [np.zeros(0, np.int64)]))
    key = np.concatenate([p.spot.astype(np.int64) * n_rows + p.row for p in parts])
    unique, inverse = np.unique(key, return_inverse=True)
    energy = np.zeros(unique.size, np.int64)
    energy_sq = np.zeros(unique.size, np.int64)
    np.add.at(energy, inverse, np.concatenate([p.energy for p in parts]))
    np.add.at(energy_sq, inverse, np.concatenate([p.energy_sq for p in parts]))
    return (unique // n_rows).astype(np.int32), (unique % n_rows).astype(np.int32), energy, energy_sq
