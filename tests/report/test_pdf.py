"""The PDF report: a valid multi-page file with every section, rendered pages that are not blank."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from matplotlib.image import imread

from braggdesk.analysis.gamma import GammaCriteria, gamma_index
from braggdesk.model import Beam, DoseResult, EnergyLayer, Plan, Roi, StructureMask, Volume
from braggdesk.report.pdf import write_report_pdf
from braggdesk.report.run_report import run_report_data


def _case():
    ct = Volume(np.zeros((30, 40, 40), np.float32), (2.5, 2.5, 2.5), (-50.0, -50.0, -37.5))
    x, y, z = ct.axis_coordinates_mm()
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    ct.hu[(xx / 45) ** 2 + (yy / 40) ** 2 > 1] = -1000
    dose = (2.0 * np.exp(-(xx**2 + (yy - 5) ** 2) / (2 * 14.0**2) - zz**2 / (2 * 18.0**2))).astype(np.float32)
    rng = np.random.default_rng(3)
    result = DoseResult(grid=ct.with_values(dose), uncertainty=np.full(ct.shape, 0.02, np.float32) * rng.uniform(0.5, 1.5, ct.shape),
                        batch_uncertainty=np.zeros(ct.shape, np.float32), let_kev_um=np.zeros(ct.shape, np.float32),
                        primaries=100_000, batches=10, compute_seconds=12.0, device="CPU (test)", dose_to="water",
                        mean_relative_uncertainty=0.0123)
    masks = []
    for number, (name, colour, centre, radius) in enumerate(
            [("PTV", (255, 0, 0), (0, 5, 0), 15.0), ("OAR spine", (0, 160, 255), (0, 30, 0), 6.0)], start=1):
        frac = (((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (zz - centre[2]) ** 2) <= radius**2).astype(np.float32)
        masks.append(StructureMask(Roi(number, name, colour), ct, frac))
    layer = EnergyLayer(150.0, np.zeros(3), np.zeros(3), np.ones(3))
    plan = Plan("test plan", [Beam("B1", 1, 90.0, 0.0, (0.0, 5.0, 0.0), [layer], meterset_mu=3.0)])
    return ct, result, masks, plan


def _page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


def test_report_with_structures_dvh_and_gamma_is_a_valid_multipage_pdf(tmp_path):
    ct, result, masks, plan = _case()
    shifted = result.grid.with_values(np.roll(result.dose_gy, 1, axis=2) * 1.02)
    gamma = gamma_index(result.grid, shifted, GammaCriteria(dose_percent=2.0, dta_mm=2.0))
    data = run_report_data(plan, ct, result, seed=7, elapsed_s=12.0, structures=masks, gamma=[gamma],
                           extra_provenance={"reference": "a test dose"})
    assert [m.name for _, m in data.metrics] == ["PTV", "OAR spine"]
    path = write_report_pdf(data, tmp_path / "sub" / "report.pdf")
    pdf = path.read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert _page_count(pdf) == 4  # summary, dose slices, DVH + metrics, gamma
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed: pages not rendered")
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(path), str(tmp_path / "page")], check=True, timeout=60)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 4
    for page in pages:
        rgb = imread(page)[..., :3]
        assert (rgb < 0.9).mean() > 0.01, f"{page.name} is nearly blank"
    # the figure pages carry colour (dose wash, DVH lines, gamma map)
    for page in pages[1:]:
        rgb = imread(page)[..., :3]
        assert ((rgb.max(axis=-1) - rgb.min(axis=-1)) > 0.3).mean() > 0.002, page.name


def test_report_without_structures_or_gamma_has_two_pages(tmp_path):
    ct, result, _, plan = _case()
    path = write_report_pdf(run_report_data(plan, ct, result, seed=1, elapsed_s=0.0), tmp_path / "r.pdf")
    assert _page_count(path.read_bytes()) == 2
