"""A job's folder on a worker node: what makes a dropped connection lose nothing.

``JOBS_DIR/JOB_ID/`` holds

- ``job.bdw``: the job frame as it arrived (so the job can be resumed after a crash);
- ``status.json``: state (running, done, cancelled, failed), the engine process id, device, error;
- ``batches/NNNNNN.snap``: one snapshot frame per finished batch (for a dose-influence matrix, one
  "dij" frame per block of spots), numbered in the order they finished, each written to a temporary
  name and renamed (a reader never sees half a file);
- ``cancel``: present once a client asked to cancel;
- ``engine.log``: what the engine process printed.

The engine runs in its own process (``python -m braggdesk.compute.jobfolder FOLDER``), in
its own session, so it neither dies with the SSH connection nor needs a client: whoever
attaches later reads the batch files.  Batches already in the folder are never run again
when a job is resumed.

Everything here is private to the node's account: the jobs folder, each job's folder and
its ``batches`` folder are 0700, every file 0600 (see :mod:`.private`), and a folder found
with looser permissions is refused, not used.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from ..errors import WireError
from ..io import wire, wire_jobs
from ..model import Accumulator, Snapshot
from .private import check_private, open_private_append, private_folder, touch_private, write_private

JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TERMINAL = ("done", "cancelled", "failed")


def default_jobs_dir() -> Path:
    return Path(os.environ.get("BRAGGDESK_JOBS_DIR") or Path.home() / ".braggdesk" / "jobs")


class JobFolder:
    def __init__(self, jobs_dir: Path, job_id: str):
        if not JOB_ID.match(job_id or ""):
            raise WireError(f"job id {job_id!r} refused: expected 1-64 letters, digits, '-' or '_'")
        self.job_id = job_id
        self.path = Path(jobs_dir) / job_id
        self.batches_dir = self.path / "batches"

    # -- creation and the job itself --------------------------------------------------
    def exists(self) -> bool:
        return (self.path / "job.bdw").is_file()

    def check_private(self) -> None:
        """Refuse a job folder (or its batches folder) that other users could read: NotPrivate."""
        check_private(self.path)
        if self.batches_dir.exists() or self.batches_dir.is_symlink():
            check_private(self.batches_dir)

    def create(self, job_frame: bytes, digest: str) -> None:
        private_folder(self.path)
        private_folder(self.batches_dir)
        _write_atomic(self.path / "job.bdw", job_frame)
        self.write_status({"state": "queued", "digest": digest})

    def read_job_message(self) -> wire.Message:
        return _read_frame_file(self.path / "job.bdw", wire.read_message)

    # -- status ---------------------------------------------------------------------------
    def status(self) -> dict:
        try:
            return json.loads((self.path / "status.json").read_text())
        except (OSError, json.JSONDecodeError):
            return {"state": "unknown"}

    def write_status(self, status: dict) -> None:
        _write_atomic(self.path / "status.json", json.dumps(status).encode())

    def update_status(self, **changes) -> dict:
        status = {**self.status(), **changes}
        self.write_status(status)
        return status

    # -- cancel -------------------------------------------------------------------------
    def request_cancel(self) -> None:
        touch_private(self.path / "cancel")

    def cancel_requested(self) -> bool:
        return (self.path / "cancel").exists()

    # -- batches ------------------------------------------------------------------------
    def batch_files(self) -> list[Path]:
        return sorted(self.batches_dir.glob("*.snap"))

    def write_batch(self, seq: int, snap: Snapshot) -> None:
        _write_atomic(self.batches_dir / f"{seq:06d}.snap", wire.encode_snapshot(snap))

    def write_frame(self, seq: int, frame: bytes) -> None:
        """A finished batch already encoded (a dose-influence block's "dij" frame)."""
        _write_atomic(self.batches_dir / f"{seq:06d}.snap", frame)

    def is_dij(self) -> bool:
        """True if the job asks for a dose-influence matrix (its batch files are "dij" frames)."""
        return wire_jobs.dij_request(self.read_job_message()) is not None

    def stored_batches(self) -> set[int]:
        """The batch numbers of every stored frame (read from the headers only)."""
        done: set[int] = set()
        for path in self.batch_files():
            done.update(self.read_batch_frame(path)[1])
        return done

    @staticmethod
    def read_batch_frame(path: Path) -> tuple[bytes, tuple[int, ...]]:
        """A batch file as the frame it is, and its batch numbers: forwarded without decoding the sums."""
        frame, header = _read_frame_file(path, wire.read_header)
        return frame, tuple(int(b) for b in header["batches"])

    def merged(self, skip: set[int] = frozenset()) -> tuple[Snapshot | None, list[Path]]:
        """The sum of the stored batches not in ``skip``, and the files read (a skipped one is not decoded)."""
        acc, files = Accumulator(), self.batch_files()
        for path in files:
            frame, batches = self.read_batch_frame(path)
            if set(batches) & skip:
                continue
            acc.add(wire.decode_snapshot(wire.read_message(wire.stream_reader(io.BytesIO(frame)))))
        return acc.total, files

    # -- the engine process -----------------------------------------------------------
    def engine_alive(self) -> bool:
        pid = self.status().get("pid")
        if not pid:
            return False
        try:
            cmdline = Path(f"/proc/{int(pid)}/cmdline").read_bytes()
        except OSError:
            return False
        return str(self.path).encode() in cmdline

    def start_engine(self) -> subprocess.Popen:
        """The engine in a new session, outliving the worker that started it and its SSH connection."""
        log = open_private_append(self.path / "engine.log")
        try:
            proc = subprocess.Popen([sys.executable, "-m", "braggdesk.compute.jobfolder", str(self.path)],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True)
        finally:
            log.close()
        self.update_status(state="running", pid=proc.pid, started=time.time())
        return proc


def run_engine(folder: JobFolder) -> int:
    """The engine process: run the job's remaining batches, one file per batch, until done or cancelled."""
    from ..engine.simulate import simulate

    folder.update_status(state="running", pid=os.getpid())
    try:
        message = folder.read_job_message()
        job = wire_jobs.decode_job(message)
        dij = wire_jobs.dij_request(message)
        if dij is not None:
            return _run_dij(folder, job, dij)
        done, files = folder.merged()
        seq = len(files)
        if done is not None:
            print(f"resuming: {done.n_batches} batches ({done.primaries} primaries) kept", flush=True)
        device = ""
        for snap in simulate(job, cancel=folder.cancel_requested, done=done):
            folder.write_batch(seq, snap)
            seq += 1
            device = snap.device
        state = "cancelled" if folder.cancel_requested() else "done"
        folder.update_status(state=state, device=device, ended=time.time())
        return 0
    except Exception as exc:  # every failure must reach the client as a message, not a silent death
        folder.update_status(state="failed", error=f"{type(exc).__name__}: {exc}", ended=time.time())
        raise


def _run_dij(folder: JobFolder, job, request: wire_jobs.DijRequest) -> int:
    """The engine process of a dose-influence matrix: the blocks of spots not yet stored, one file each."""
    from ..engine.dij import block_id, block_size, blocks, prepare_dij, run_block

    per_spot, pass_index = request.per_spot, request.pass_index
    prepared = prepare_dij(job, request.voxels)
    done = folder.stored_batches()
    seq = len(folder.batch_files())
    if done:
        print(f"resuming: {len(done)} blocks kept", flush=True)
    size = block_size(prepared.n_rows, per_spot, prepared.prepared.device.kind)
    for first, n in blocks(prepared.n_spots, size):
        if folder.cancel_requested():
            break
        if block_id(pass_index, first, prepared.n_spots) in done:
            continue
        folder.write_frame(seq, wire_jobs.encode_dij_batch(run_block(prepared, first, n, per_spot, pass_index)))
        seq += 1
    state = "cancelled" if folder.cancel_requested() else "done"
    folder.update_status(state=state, device=prepared.prepared.device.name, ended=time.time())
    return 0


def _read_frame_file(path: Path, read):
    """``read`` (wire.read_message or wire.read_header) applied to the one frame a file holds."""
    with open(path, "rb") as fh:
        got = read(wire.stream_reader(fh))
    if got is None:
        raise WireError(f"{path} is empty")
    return got


def _write_atomic(path: Path, data: bytes) -> None:
    write_private(path, data)  # a reader never sees half a file, and no other user sees any


if __name__ == "__main__":
    os.umask(0o077)  # whatever the engine writes (logs, caches) stays with the node's account
    target = Path(sys.argv[1])
    sys.exit(run_engine(JobFolder(target.parent, target.name)))
