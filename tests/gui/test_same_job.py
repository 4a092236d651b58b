"""The workstation and ``braggdesk run`` build the same Job from the same inputs, through the same code.

Why: a dose computed in the GUI must be the dose ``braggdesk run`` computes for the same folder,
plan and settings.  Both call workflow.jobs.simulation_settings and workflow.jobs.build_job; this
test spies on those two and compares the two jobs field by field (arrays by value).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("PySide6")


def _same(a, b, where="job") -> None:
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), where
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]")
    else:
        assert a == b, where


def test_gui_and_cli_build_the_same_job(make_window, tmp_path, monkeypatch):
    from braggdesk.cli import build_parser
    from braggdesk.cli.run import job_from_args
    from braggdesk.io.demo_case import demo_case
    from braggdesk.io.phantoms import write_phantom
    from braggdesk.io.rtplan_writer import write_rt_ion_plan
    from braggdesk.workflow import jobs

    case = demo_case(spacing_mm=8.0)
    write_phantom(case.phantom, tmp_path / "patient")
    write_rt_ion_plan(case.plan, tmp_path / "patient" / "RP_demo.dcm", ct=case.phantom.volume,
                      beam_model=case.beam_model)
    calls: list[str] = []
    for name in ("simulation_settings", "build_job"):
        real = getattr(jobs, name)
        monkeypatch.setattr(jobs, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))

    args = build_parser().parse_args(["run", "--ct", str(tmp_path / "patient"), "--plan",
                                      str(tmp_path / "patient" / "RP_demo.dcm"), "--primaries", "3000",
                                      "--batches", "3", "--seed", "7", "--device", "cpu", "--out",
                                      str(tmp_path / "RD.dcm")])
    cli_job = job_from_args(args)[0].job
    assert calls == ["simulation_settings", "build_job"]

    w = make_window()
    assert w.load_path(tmp_path / "patient")
    panel = w.run_panel
    panel.by_uncertainty.setChecked(False)
    panel.primaries.setValue(3000)
    panel.batches.setValue(3)
    panel.seed.setValue(7)
    panel.device_box.setCurrentIndex(panel.device_box.findData("cpu"))
    panel.first_look.setChecked(False)
    gui_job = w.make_job(panel.settings())
    assert calls == ["simulation_settings", "build_job"] * 2

    assert cli_job.job_id != gui_job.job_id  # each job its own identity; everything else equal
    _same(dataclasses.replace(cli_job, job_id=""), dataclasses.replace(gui_job, job_id=""))
    # the defaults are one: what neither caller set is the same, and a changed input shows
    assert gui_job.settings.max_primaries == cli_job.settings.max_primaries == jobs.DEFAULT_MAX_PRIMARIES
    panel.seed.setValue(8)
    with pytest.raises(AssertionError):
        _same(cli_job.settings, w.make_job(panel.settings()).settings)
