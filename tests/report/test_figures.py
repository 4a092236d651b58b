"""The dose PNG: a real picture with the dose where it is."""

from __future__ import annotations

import numpy as np
from matplotlib.image import imread

from braggdesk.model import Volume
from braggdesk.report.figures import save_dose_slices_png


def test_dose_png_colours_the_dose_region(tmp_path):
    hu = np.zeros((20, 30, 25), dtype=np.float32)
    ct = Volume(hu, (2.0, 2.0, 3.0), (-24.0, -29.0, -28.5))
    k, j, i = np.meshgrid(np.arange(20), np.arange(30), np.arange(25), indexing="ij")
    dose = np.exp(-((i - 12) ** 2 + (j - 15) ** 2 + (k - 10) ** 2) / 20.0).astype(np.float32) * 2.0
    path = save_dose_slices_png(dose, ct, tmp_path / "dose.png", title="test", uncertainty=np.full_like(dose, 0.02))
    img = imread(path)
    assert img.shape[0] > 300 and img.shape[1] > 600
    rgb = img[..., :3]
    saturation = rgb.max(axis=2) - rgb.min(axis=2)
    assert (saturation > 0.3).mean() > 0.01  # coloured dose wash, not only grey CT
