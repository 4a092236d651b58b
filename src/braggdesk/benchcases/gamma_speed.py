"""The gamma figure of ``braggdesk bench``: a pair of 128^3 grids (2 mm voxels) at 2 %/2 mm, 10 % cut-off.

The reference is a smooth box of dose (error-function edges, 2 Gy plateau); the
evaluated dose is the same box shifted by 1 mm with 1 % noise (the usual case,
everything passes) and the box scaled by 1.03 (the hardest case: most voxels
fail on dose and the search runs to its full radius).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
from scipy.special import erf

from ..analysis.gamma import GammaCriteria, gamma_index
from ..model import Volume

GRID_N = 128
SPACING_MM = 2.0


def _edge(u: np.ndarray, lo_mm: float, hi_mm: float, sigma_mm: float) -> np.ndarray:
    return 0.5 * (erf((u - lo_mm) / sigma_mm) - erf((u - hi_mm) / sigma_mm))


def box_dose(shift_mm: float = 0.0, n: int = GRID_N) -> np.ndarray:
    z, y, x = np.meshgrid(*(np.arange(n) * SPACING_MM,) * 3, indexing="ij")
    return (2.0 * _edge(x + shift_mm, 60, 200, 4) * _edge(y, 60, 200, 4) * _edge(z, 40, 180, 3)).astype(np.float32)


def gamma_benchmark(xp: Any = np, n: int = GRID_N, log: Callable[[str], None] = print) -> dict:
    """Seconds and pass rates of global and local gamma for the two evaluated doses."""
    geometry = dict(spacing_mm=(SPACING_MM,) * 3, origin_mm=(0.0, 0.0, 0.0), unit="Gy")
    reference = Volume(box_dose(0.0, n), **geometry)
    rng = np.random.default_rng(1)
    cases = {
        "shift1mm_noise1pct": box_dose(1.0, n) * (1 + 0.01 * rng.standard_normal((n, n, n))).astype(np.float32),
        "scaled_1p03": reference.values * np.float32(1.03),
    }
    figures: dict = {"gamma_grid": [n, n, n], "gamma_criteria": "2 %/2 mm global and local, cut-off 10 %"}
    for name, evaluated in cases.items():
        for local in (False, True):
            kind = "local" if local else "global"
            t0 = time.perf_counter()
            result = gamma_index(reference, Volume(evaluated, **geometry), GammaCriteria(local=local), xp=xp)
            seconds = time.perf_counter() - t0
            log(f"bench gamma: {name} {kind}: {seconds:.2f} s, pass {result.pass_rate_percent:.2f} %")
            figures[f"gamma_{name}_{kind}_seconds"] = round(seconds, 2)
            figures[f"gamma_{name}_{kind}_pass_percent"] = round(float(result.pass_rate_percent), 2)
    return figures
