"""Job folders on a node do not pile up: removed once the client has the result, old ones pruned.

Why: every remote run leaves its job (CT, plan, one file per batch) in the node's jobs
folder so that a dropped connection loses nothing.  Once the client has said it holds
the whole result (a ``received`` frame after ``done``), the folder has done its job and
is removed.  Folders a client never came back for (it crashed, the user gave up, an old
client that sends no ``received``) are cleared by ``braggdesk worker --prune DAYS``; a
job whose engine still runs is never touched.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .jobfolder import JOB_ID, JobFolder

SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class Pruned:
    removed: tuple[str, ...]  # job ids
    kept_running: tuple[str, ...]  # old, but their engine still runs
    freed_bytes: int


def remove_job(folder: JobFolder) -> None:
    """Delete one job's folder (the client holds its result); quietly, as the client may already be gone."""
    if folder.path.is_dir() and JOB_ID.match(folder.path.name):
        shutil.rmtree(folder.path, ignore_errors=True)


def prune_jobs(jobs_dir: Path, older_than_days: float, now: float | None = None) -> Pruned:
    """Remove job folders last touched more than ``older_than_days`` ago whose engine is not running."""
    jobs_dir = Path(jobs_dir)
    now = time.time() if now is None else now
    removed, running, freed = [], [], 0
    if not jobs_dir.is_dir():
        return Pruned((), (), 0)
    for path in sorted(jobs_dir.iterdir()):
        if not (path.is_dir() and JOB_ID.match(path.name)):
            continue  # not a job folder: never ours to delete
        age_days = (now - _last_touched(path)) / SECONDS_PER_DAY
        if age_days <= older_than_days:
            continue
        folder = JobFolder(jobs_dir, path.name)
        if folder.engine_alive():
            running.append(path.name)
            continue
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path.name)
            freed += size
    return Pruned(tuple(removed), tuple(running), freed)


def _last_touched(path: Path) -> float:
    """The newest modification time of the folder and its files (a batch written today keeps a job young)."""
    times = [path.stat().st_mtime] + [p.stat().st_mtime for p in path.rglob("*")]
    return max(times)
