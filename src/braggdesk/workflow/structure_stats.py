"""DVHs and statistics of the shown dose for every structure, as the DVH plot and the statistics table take them.

The numbers come from analysis/dvh.py (one DVH implementation for the GUI, the report
and batch QA); this module only picks the columns the table shows.  It runs off the
GUI thread: in the run worker after a batch, or in a background task for an imported
dose, so it takes plain arrays and masks and touches no widget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis.dvh import Dvh, bin_width_for, dvh_of_mask, metrics_of, v_dose
from ..model import StructureMask



@dataclass
class StructureAnalysis:
    name: str
    color_rgb: tuple[int, int, int]
    dvh: Dvh
    metrics: dict[str, float]  # column title -> value, in the table's order


def metrics_row(dvh: Dvh, reference_gy: float | None) -> dict[str, float]:
    """Volume, Dmean, Dmax, Dmin, D98, D95, D50, D2 (Gy) and V95 (% of the volume at 95 % of the reference)."""
    m = metrics_of(dvh)
    v95 = v_dose(dvh, 95.0, unit="%", reference_gy=reference_gy) if reference_gy and reference_gy > 0 else np.nan
    return {"Volume [cm3]": m.volume_cm3, "Dmean [Gy]": m.dmean_gy, "Dmax [Gy]": m.dmax_gy, "Dmin [Gy]": m.dmin_gy,
            "D98 [Gy]": m.d98_gy, "D95 [Gy]": m.d95_gy, "D50 [Gy]": m.d50_gy, "D2 [Gy]": m.d2_gy,
            "V95 [%]": float(v95)}


def analyse(dose_gy: np.ndarray, masks: list[StructureMask], reference_gy: float | None) -> list[StructureAnalysis]:
    """DVH and metrics of each mask in ``dose_gy`` (on the masks' grid)."""
    top = float(dose_gy.max()) if dose_gy.size else 0.0
    bin_gy = bin_width_for(top)  # one width for every structure, following the dose (0.08 Gy gets 1600 bins)
    out = []
    for mask in masks:
        dvh = dvh_of_mask(dose_gy, mask, bin_gy=bin_gy)
        out.append(StructureAnalysis(mask.name, mask.roi.color_rgb, dvh, metrics_row(dvh, reference_gy)))
    return out
