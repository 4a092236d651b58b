"""The engine's per-voxel media: what physics.calibration assigns, and notes when densities were extrapolated."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.engine.media import build_media
from braggdesk.io.ct_calibration import read_ct_calibration
from braggdesk.model import Volume
from braggdesk.physics.mcsquare import mcsquare_mass_stopping_ratio


def test_media_carry_the_calibration_and_its_extrapolation_notes():
    hu = np.array([[[0.0, 20.0], [1000.0, 2976.0]]], dtype=np.float32)
    ct = Volume(hu, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), frame_of_reference_uid="1.2.3")
    media = build_media(ct, read_ct_calibration("mcsquare_ucl_toshiba"))
    assert media.rsp[:3].tolist() == pytest.approx([1.0171, 1.0648, 1.4136], abs=2e-4)  # MCsquare's RSPs
    assert media.density_g_cm3[-1] == pytest.approx(2.5455, abs=1e-3)  # the last segment continued, as MCsquare
    assert media.rsp[-1] == pytest.approx(2.5455 * float(mcsquare_mass_stopping_ratio("Schneider_Marrow_Bone15", 100.0)),
                                          rel=1e-3)
    (note,) = media.notes
    assert "1 voxel (25 %) has HU above 1565" in note and "mcsquare_ucl_toshiba" in note
    assert build_media(Volume(hu[:, :1, :], (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), frame_of_reference_uid="1.2.3"),
                       read_ct_calibration("mcsquare_ucl_toshiba")).notes == []
