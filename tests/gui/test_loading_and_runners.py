"""Structures from RTSTRUCT, a planning system's dose, and the runner choices of the run panel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from braggdesk.model import SimulationSettings  # noqa: E402

PLAN03 = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dcpt-let-2022" / "plans" / \
    "plan03_sobp_raystation"


def test_a_phantom_folder_shows_its_rtstruct(make_window, tmp_path):
    from braggdesk.io.demo_case import demo_case
    from braggdesk.io.phantoms import PHANTOM_HU, write_phantom

    case = demo_case(spacing_mm=8.0)
    write_phantom(case.phantom, tmp_path / "ct")
    w = make_window()
    assert w.load_path(tmp_path / "ct")
    assert w.wait_for_background()
    names = [m.name for m in w.session.masks]
    assert names == ["External", "Water", "Bone_Cortical", "Lung"]
    lung = w.session.masks[3]
    assert lung.roi.color_rgb == (255, 170, 200)
    # the Lung ROI holds exactly the lung voxels of the CT it was traced on
    assert lung.fraction.sum() == pytest.approx((case.phantom.volume.values == PHANTOM_HU["Lung"]).sum())
    assert w.tree.structure_item("Lung").icon(0) is not None
    assert w.views["axial"]._contours["Lung"].isVisible() or w.views["axial"]._contours["External"].isVisible()


@pytest.mark.skipif(not PLAN03.is_dir(), reason="shared DCPT data not present")
def test_a_tps_export_without_ct_shows_structures_and_its_dose(make_window):
    w = make_window()
    assert w.load_path(PLAN03)
    assert w.wait_for_background()
    s = w.session
    assert s.ct_placeholder and w.tree.topLevelItem(0).text(0) == "No CT (dose grid)"
    assert {"Cube101010", "External", "PMMA"} <= {m.name for m in s.masks}
    assert s.dose is not None and s.dose.label.startswith("RTDOSE") and float(s.dose.dose_gy.max()) == \
        pytest.approx(1.98, abs=0.01)
    # DVHs and statistics of the imported dose: the target gets about the planned dose
    d50 = float(w.stats.cell_text("Cube101010", "D50 [Gy]"))
    assert 1.8 < d50 < 2.05
    assert "Cube101010" in w.dvh_plot._curves
    assert w.views["axial"]._contours["Cube101010"] is not None
    # no CT: a run is refused with the reason
    assert not w.start_run(SimulationSettings(primaries=1000, batches=2))
    assert "no CT is loaded" in w.error_dialogs[-1].text()


def test_dask_cluster_choice_updates_the_views_and_gives_the_local_dose(make_window, qtbot):
    distributed = pytest.importorskip("distributed")
    from test_main_window import DEMO_SPACING_MM, _run

    settings = SimulationSettings(primaries=3_000, batches=4, seed=5, device="cpu", first_batch_primaries=300)
    w = make_window()
    w.open_demo(DEMO_SPACING_MM)
    w.wait_for_background()
    local = _run(w, qtbot, settings)
    seen = []
    w.controller.updated.connect(lambda u: seen.append(u.progress.primaries))
    # an in-process cluster (fast to start); the choice reaches it by its scheduler address like any other
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        w.run_panel.choose_runner("dask", cluster.scheduler_address)
        assert w.run_panel.target_widget.isVisibleTo(w.run_panel)
        dask = _run(w, qtbot, settings, runner="dask", target=cluster.scheduler_address, min_interval_s=0.0)
    assert len(seen) >= 2 and seen[0] < 3_000
    assert dask.result.primaries == 3_000 and not dask.partial
    assert np.array_equal(dask.dose_gy, local.dose_gy)
    assert w.session.dose is dask and w.views["axial"]._vmax == pytest.approx(float(dask.dose_gy.max()))
    assert float(w.stats.cell_text("External", "Dmax [Gy]")) == pytest.approx(float(dask.dose_gy.max()), rel=1e-2)


def test_worker_process_choice_streams_like_a_remote_node(make_window, qtbot, tmp_path, monkeypatch):
    """The SSH runner's stream (framing, job folder, worker process) over a pipe, as `run --pipe` does."""
    from test_main_window import DEMO_SPACING_MM, _run

    monkeypatch.setenv("BRAGGDESK_JOBS_DIR", str(tmp_path / "jobs"))
    settings = SimulationSettings(primaries=2_000, batches=3, seed=2, device="cpu")
    w = make_window()
    w.open_demo(DEMO_SPACING_MM)
    w.wait_for_background()
    local = _run(w, qtbot, settings)
    remote = _run(w, qtbot, settings, runner="process", min_interval_s=0.0)
    assert remote.result.primaries == 2_000 and np.array_equal(remote.dose_gy, local.dose_gy)
    assert (tmp_path / "jobs").is_dir()  # the worker kept its job folder there, not in the home folder


def test_ssh_host_profiles_are_saved_without_passwords_and_chosen(make_window, tmp_path):
    from braggdesk.compute.ssh import SshRunner
    from braggdesk.gui.host_profiles import HostProfilesDialog, load_profiles
    from braggdesk.gui.runner_choices import cluster_spec, runner_choice

    w = make_window()
    dialog = HostProfilesDialog(w.qsettings, w)
    dialog.new_profile()
    dialog.edits["name"].setText("gpu1")
    dialog.edits["host"].setText("10.0.0.7")
    dialog.port.setValue(2222)
    dialog.edits["user"].setText("physicist")
    dialog.edits["key_path"].setText(str(tmp_path / "id_ed25519"))
    dialog.edits["known_hosts"].setText(str(tmp_path / "known_hosts"))
    dialog.edits["remote_command"].setText("/opt/venv/bin/python -m braggdesk worker")
    dialog.save()
    (profile,) = load_profiles(w.qsettings)
    assert (profile.name, profile.host, profile.port, profile.user) == ("gpu1", "10.0.0.7", 2222, "physicist")
    assert profile.key_path == tmp_path / "id_ed25519" and profile.known_hosts == tmp_path / "known_hosts"
    w.qsettings.sync()
    assert "password" not in Path(w.qsettings.fileName()).read_text().lower()
    w.run_panel.choose_runner("ssh")
    assert w.run_panel.target_box.findText("gpu1") >= 0 and w.run_panel.edit_targets.isVisibleTo(w.run_panel)
    w.open_demo(8.0)
    job = w.make_job(SimulationSettings(primaries=100, batches=1))
    runner = runner_choice("ssh").make(job, "gpu1", w.qsettings)
    assert isinstance(runner, SshRunner) and runner.profile == profile
    assert cluster_spec("local:3").local_workers == 3
    assert cluster_spec("10.0.0.5:8786").address == "tcp://10.0.0.5:8786"


def test_cluster_profiles_carry_tls_files_and_refuse_unencrypted_links(make_window, tmp_path):
    pytest.importorskip("cryptography")
    from braggdesk.compute.certificates import throwaway_tls, write_tls
    from braggdesk.compute.cluster_profiles import load_cluster_profiles
    from braggdesk.compute.dask_runner import DaskRunner
    from braggdesk.gui.cluster_profiles import ClusterProfilesDialog, cluster_profiles_path
    from braggdesk.gui.runner_choices import runner_choice

    files = write_tls(tmp_path / "tls", throwaway_tls())
    w = make_window()
    assert cluster_profiles_path(w.qsettings) == tmp_path / "clusters.ini"  # beside the window's settings
    dialog = ClusterProfilesDialog(w.qsettings, w)
    dialog.new_profile()
    dialog.name.setText("hospital")
    dialog.address.setText("tls://dask.hospital.example:8786")
    for key, path in (("tls_ca", files.ca), ("tls_cert", files.cert), ("tls_key", files.key)):
        dialog.files[key].setText(str(path))
    dialog.new_profile()
    dialog.name.setText("lab")
    dialog.address.setText("tcp://10.0.0.9:8786")  # plain TCP to another machine, "insecure" not ticked
    assert not dialog.save()
    assert "profile 'lab'" in dialog.problem.text() and "UNENCRYPTED" in dialog.problem.text()
    dialog.insecure.setChecked(True)
    assert dialog.save()
    hospital, lab = load_cluster_profiles(tmp_path / "clusters.ini")
    assert (hospital.name, hospital.tls_key, lab.insecure) == ("hospital", files.key, True)
    w.run_panel.choose_runner("dask")
    assert w.run_panel.edit_targets.text() == "Clusters..." and w.run_panel.target_box.findText("hospital") >= 0
    w.open_demo(8.0)
    job = w.make_job(SimulationSettings(primaries=100, batches=1))
    runner = runner_choice("dask").make(job, "hospital", w.qsettings)
    assert isinstance(runner, DaskRunner) and runner.spec.tls == files and runner.spec.profile == "hospital"
    # typed into the box, a plain address to another machine does not start
    assert not w.start_run(SimulationSettings(primaries=100, batches=1), "dask", "tcp://10.0.0.5:8786")
    assert "UNENCRYPTED" in w.error_dialogs[-1].text()
