"""What the slice views draw and how: window/level presets, colour maps, overlay settings.

Plain data and numpy (no Qt) so settings can be saved, compared and tested alone;
the views turn them into pixels with :func:`overlay_rgba`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: CT window presets: name -> (level, width) in HU
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "Soft tissue": (40.0, 400.0),
    "Lung": (-600.0, 1500.0),
    "Bone": (400.0, 1800.0),
}

#: what the colour wash shows
QUANTITIES = ("dose", "rbe", "let", "uncertainty")
QUANTITY_LABELS = {"dose": "Physical dose [Gy]", "rbe": "RBE-weighted dose [Gy(RBE)]", "let": "LETd [keV/um]",
                   "uncertainty": "Relative uncertainty [%]"}
#: quantities that are a dose: the views wash it, draw its isodoses, and the DVHs and statistics follow it
DOSE_QUANTITIES = ("dose", "rbe")
COLOR_MAPS = ("jet", "turbo", "viridis", "inferno", "plasma")
ISODOSE_COLORS = ((255, 0, 0), (255, 128, 0), (255, 255, 0), (0, 255, 0), (0, 255, 255), (0, 0, 255), (255, 0, 255))


@dataclass
class DisplaySettings:
    window_level_hu: tuple[float, float] = WINDOW_PRESETS["Soft tissue"]
    quantity: str = "dose"
    color_map: str = "jet"
    opacity: float = 0.5
    threshold_fraction: float = 0.1  # wash hidden below this fraction of the reference dose
    isodose_percent: tuple[float, ...] = (95.0, 80.0, 50.0, 20.0)
    show_wash: bool = True
    show_isodoses: bool = True
    #: wash and isodoses inside the EXTERNAL structure only, as planning systems show them (the dose to water the
    #: engine scores in the air along the beams is physically right but hides nothing clinical); no effect
    #: without an EXTERNAL structure
    body_only: bool = True
    reference_dose_gy: float | None = None  # None: the maximum dose
    uncertainty_max_percent: float = 20.0
    visible_structures: set[str] = field(default_factory=set)

    @property
    def ct_levels(self) -> tuple[float, float]:
        level, width = self.window_level_hu
        return level - width / 2, level + width / 2


def color_lut(name: str, n: int = 256) -> np.ndarray:
    """(n, 3) uint8 RGB table of a matplotlib colour map."""
    from matplotlib import colormaps

    return (colormaps[name](np.linspace(0, 1, n))[:, :3] * 255).astype(np.uint8)


def overlay_rgba(values: np.ndarray, show: np.ndarray, vmax: float, lut: np.ndarray, opacity: float) -> np.ndarray:
    """RGBA uint8 image of ``values`` scaled 0..vmax through ``lut``; transparent where ``show`` is False."""
    n = len(lut)
    scale = (n - 1) / vmax if vmax > 0 else 0.0
    idx = np.clip(values * scale, 0, n - 1).astype(np.intp)
    rgba = np.empty(values.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = lut[idx]
    rgba[..., 3] = np.where(show, np.uint8(round(255 * opacity)), np.uint8(0))
    return rgba
