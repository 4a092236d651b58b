"""One runner target syntax: what each form parses to, and the runner it builds (no job is run)."""

from __future__ import annotations

import pytest

from braggdesk.errors import BraggdeskError
from braggdesk.workflow.targets import RunnerOptions, RunnerTarget, cluster_spec, make_runner


@pytest.mark.parametrize("text, kind, address, threads", [
    (None, "local", "", None), ("local", "local", "", None), ("local:2", "local", "", 2),
    ("process", "process", "", None), ("ssh://me@gpu1:2222", "ssh", "me@gpu1:2222", None),
    ("dask://10.0.0.5:8786", "dask", "10.0.0.5:8786", None), ("dask://local:3", "dask", "local:3", None),
    ("dask://tls://h:8786", "dask", "tls://h:8786", None), ("dask-ssh://a,b", "dask-ssh", "a,b", None),
    ("hospital", "profile", "hospital", None)])
def test_target_forms(text, kind, address, threads):
    target = RunnerTarget.parse(text)
    assert (target.kind, target.address, target.threads) == (kind, address, threads)
    assert RunnerTarget.parse(str(target)) == target


@pytest.mark.parametrize("text", ["local:0", "local:two", "ftp://x", "ssh://"])
def test_malformed_targets_say_the_syntax(text):
    with pytest.raises(BraggdeskError, match="runner target"):
        RunnerTarget.parse(text)


def test_dask_targets_become_cluster_specs():
    options = RunnerOptions()
    assert cluster_spec(RunnerTarget.parse("dask://local:3"), options).local_workers == 3
    assert cluster_spec(RunnerTarget.parse("dask://10.0.0.5:8786"), options).address == "tcp://10.0.0.5:8786"


def test_local_targets_build_local_runners_and_unknown_names_are_refused(tmp_path):
    from braggdesk.compute.local import LocalRunner
    from braggdesk.workflow.api import demo_case, make_job

    case = demo_case(spacing_mm=8.0)
    job = make_job(case.ct, case.plan, primaries=100, batches=1, device="cpu", calibration=case.calibration)
    runner = make_runner(job, "local:1")
    assert isinstance(runner, LocalRunner) and "(1 of " in runner.device
    with pytest.raises(BraggdeskError, match="neither a saved host profile nor a saved cluster: .*clusters.ini: no cluster"):
        make_runner(job, "nowhere", RunnerOptions(hosts=[], clusters_path=tmp_path / "clusters.ini"))
