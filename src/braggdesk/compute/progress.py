"""Progress of a running job, derived from the merged snapshot: what bars and panels show."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..model import Snapshot


@dataclass(frozen=True)
class Progress:
    """One step of a run.  ``total`` is the runner's live total, which later batches keep adding to
    (copy it to keep it); the numbers here are those of the moment the progress was made."""

    total: Snapshot  # everything merged so far (the live accumulator)
    latest: Snapshot  # the batch that just arrived
    elapsed_s: float  # wall time since the run started
    mean_uncertainty: float  # mean relative uncertainty over voxels above 50 % of max
    goal_primaries: int | None
    goal_uncertainty: float | None
    primaries: int = -1  # primaries merged at this moment (taken from ``total`` when not given)

    def __post_init__(self) -> None:
        if self.primaries < 0:
            object.__setattr__(self, "primaries", int(self.total.primaries))

    @property
    def primaries_per_second(self) -> float:
        return self.primaries / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def fraction_done(self) -> float:
        if self.goal_primaries:
            return min(1.0, self.primaries / self.goal_primaries)
        if self.goal_uncertainty and math.isfinite(self.mean_uncertainty) and self.mean_uncertainty > 0:
            # uncertainty falls as 1/sqrt(N): N needed = N * (u / goal)^2
            return min(1.0, (self.goal_uncertainty / self.mean_uncertainty) ** 2)
        return 0.0

    @property
    def eta_s(self) -> float:
        f = self.fraction_done
        if f <= 0:
            return math.inf
        return max(0.0, self.elapsed_s * (1 - f) / f)

    def line(self) -> str:
        """One plain line for logs and pipes."""
        eta = "?" if not math.isfinite(self.eta_s) else f"{self.eta_s:.0f} s"
        unc = "n/a" if not math.isfinite(self.mean_uncertainty) else f"{100 * self.mean_uncertainty:.2f} %"
        return (f"{self.primaries:,} primaries  {self.primaries_per_second:,.0f}/s  "
                f"uncertainty {unc}  ETA {eta}")
