"""Which dose the views show: the physical dose, or the RBE-weighted one the display toggle asks for.

Why here and not in each view: the slice views (wash and isodoses), the 3D isosurfaces, the DVHs and
the statistics table must show one and the same dose, so the window asks this object once per
entry.  The RBE-weighted dose is workflow/rbe_dose.py's (what ``braggdesk run --rbe`` writes and
``bd.rbe_weighted`` returns), kept for the entry and settings last asked (a live run replaces the
entry each update; switching the toggle back and forth costs nothing).  No Qt: the run worker calls it too.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from ..model import StructureMask
from ..viewers.display import DisplaySettings
from ..workflow.rbe_dose import RbeSettings, rbe_weighted_gy
from ..workflow.session import DoseEntry


class ShownDose:
    def __init__(self, settings: RbeSettings | None = None):
        self.settings = settings or RbeSettings()
        self._lock = threading.Lock()  # the GUI thread and the run worker share the cache
        self._cache: tuple = (None, None, None, None)  # (dose array, settings, mask ids, RBE-weighted dose)

    @staticmethod
    def is_rbe(display: DisplaySettings) -> bool:
        return display.quantity == "rbe"

    def rbe_gy(self, dose_gy: np.ndarray, let_kev_um: np.ndarray | None,
               masks: Sequence[StructureMask] = ()) -> np.ndarray:
        """The RBE-weighted dose of this dose and LETd with the current settings (RbeError if it cannot be had)."""
        settings, masks = self.settings, tuple(masks) if self.settings.alpha_beta_by_structure else ()
        key = tuple(id(m) for m in masks)  # the session's masks are replaced, never mutated
        with self._lock:
            dose, cached_settings, cached_key, out = self._cache
            if dose is dose_gy and cached_settings == settings and cached_key == key:
                return out
        out = rbe_weighted_gy(dose_gy, let_kev_um, settings, masks)
        with self._lock:
            self._cache = (dose_gy, settings, key, out)
        return out

    def dose_gy(self, entry: DoseEntry, display: DisplaySettings,
                masks: Sequence[StructureMask] = ()) -> np.ndarray:
        """The dose the views, DVHs and statistics show for ``entry``."""
        if self.is_rbe(display):
            return self.rbe_gy(entry.dose_gy, entry.let_kev_um, masks)
        return entry.dose_gy

    def label(self, display: DisplaySettings) -> str:
        """What the DVH plot's axis and the statistics' title call the shown dose."""
        return f"RBE-weighted dose [Gy(RBE)], {self.settings.describe()}" if self.is_rbe(display) else "Dose [Gy]"
