"""Node job folders: ``braggdesk worker --prune DAYS`` clears old ones, never a running job or a stranger's folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from braggdesk.cli import main


def _job(jobs, name, age_days, pid=None):
    folder = jobs / name
    (folder / "batches").mkdir(parents=True)
    (folder / "status.json").write_text(json.dumps({"state": "done", "pid": pid}))
    (folder / "batches" / "000001.snap").write_bytes(b"x" * 1000)
    then = time.time() - age_days * 86400
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (then, then))
    return folder


def test_prune_removes_old_jobs_only(tmp_path, capsys):
    jobs = tmp_path / "jobs"
    old = _job(jobs, "old-job", 10)
    young = _job(jobs, "young-job", 0.5)
    stranger = _job(jobs, "not a job id", 10)  # a name no client gives: not ours to delete
    running_folder = _job(jobs, "running-job", 10)
    engine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(running_folder)])
    try:
        (running_folder / "status.json").write_text(json.dumps({"state": "running", "pid": engine.pid}))
        then = time.time() - 10 * 86400
        os.utime(running_folder / "status.json", (then, then))
        assert main(["worker", "--jobs-dir", str(jobs), "--prune", "7"]) == 0
    finally:
        engine.kill()
        engine.wait()
    out = capsys.readouterr().out
    assert not old.exists() and young.exists() and stranger.exists() and running_folder.exists()
    assert "removed 1 job folder older than 7 days" in out and "kept running-job: its engine is still running" in out


def test_prune_refuses_a_negative_age(tmp_path, capsys):
    assert main(["worker", "--jobs-dir", str(tmp_path), "--prune", "-1"]) == 2
    assert "--prune" in capsys.readouterr().err
