"""The node side of a remote run: ``braggdesk worker``.

It speaks the wire format on its standard input and output:

1. it writes ``hello`` (braggdesk and protocol versions, the node's best device, GPU name);
2. it reads one ``job`` frame (a new job, or an attach to a job already in its jobs folder);
3. it starts the engine in a process of its own (see :mod:`.jobfolder`), or finds it running,
   and streams every batch the engine finishes as a ``snapshot``: first everything already
   computed that the client does not hold (merged into one frame), then each new batch;
4. it ends with ``done`` (or ``error``), and exits.

A ``cancel`` frame from the client makes the engine stop before its next batch.  When the
client goes away (standard input closes, or writing fails) this process exits and the
engine goes on; a later ``braggdesk worker`` attaches to it.  If the engine process died
without finishing, an attach starts it again and it runs only the batches not yet on disk.

The jobs folder and everything in it are owner-only (0700 folders, 0600 files): a jobs folder
or job folder that other users could read is refused with an error frame, never used.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import BinaryIO

from ..errors import BraggdeskError, WireError
from ..io import wire, wire_jobs
from .job_cleanup import remove_job
from .jobfolder import TERMINAL, JobFolder, default_jobs_dir
from .private import NotPrivate, private_folder

POLL_S = 0.05
RECEIPT_WAIT_S = 10.0  # how long a finished job waits for the client's 'received'


def node_hello() -> dict:
    """What the node says about itself: versions, host name, best device and GPU name."""
    from ..engine.device import cpu_name, gpu_status

    usable, status = gpu_status()
    gpu = status.removeprefix("GPU: ") if usable else ""
    return wire.hello_header("worker", device="gpu" if usable else "cpu", device_name=status if gpu
                             else cpu_name(), gpu_name=gpu, gpu_status=status, python=platform.python_version(),
                             hostname=socket.gethostname(), pid=os.getpid())


class _Refused(BraggdeskError):
    """A job the worker will not run; ``code`` goes into the error frame."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


class Worker:
    """One client session on the node; see the module docstring."""

    def __init__(self, stdin: BinaryIO, stdout: BinaryIO, jobs_dir: Path | None = None):
        self.stdin, self.stdout = stdin, stdout
        self.jobs_dir = Path(jobs_dir) if jobs_dir else default_jobs_dir()
        self.client_gone = threading.Event()
        self.received = threading.Event()  # the client holds the whole result: the job folder can go
        self._write_lock = threading.Lock()
        self._engine: subprocess.Popen | None = None

    def send(self, frame: bytes) -> None:
        with self._write_lock:
            try:
                self.stdout.write(frame)
                self.stdout.flush()
            except (BrokenPipeError, ConnectionResetError, ValueError, OSError):
                self.client_gone.set()

    def log(self, text: str) -> None:
        self.send(wire.encode("log", {"text": text}))

    def error(self, code: str, text: str) -> int:
        self.send(wire.encode("error", {"code": code, "message": text}))
        return 1

    def serve(self) -> int:
        self.send(wire.encode("hello", node_hello()))
        read = wire.stream_reader(self.stdin)
        try:
            msg = wire.read_message(read)
        except WireError as exc:
            return self.error("protocol", str(exc))
        if msg is None:  # a client that only wanted the hello (``braggdesk remote test``)
            return 0
        if msg.kind != "job":
            return self.error("protocol", f"expected a job, got {msg.kind}")
        try:
            wire.check_compatible(msg.header, "the client")
            folder = self._open_job(msg)
        except NotPrivate as exc:
            return self.error("not-private", f"on the node: {exc}")
        except _Refused as exc:
            return self.error(exc.code, str(exc))
        except WireError as exc:
            return self.error("protocol", str(exc))
        threading.Thread(target=self._read_client, args=(read, folder), daemon=True).start()
        return self._stream(folder, set(int(b) for b in msg.header.get("have_batches", [])))

    def _open_job(self, msg: wire.Message) -> JobFolder:
        folder = JobFolder(self.jobs_dir, str(msg.header.get("job_id", "")))
        digest = str(msg.header.get("digest", ""))
        private_folder(self.jobs_dir)  # created 0700, or refused if it exists with looser permissions
        if folder.exists():
            folder.check_private()
            status = folder.status()
            if status.get("digest") != digest:
                raise _Refused("job-mismatch", f"job {folder.job_id} on this node was made from other inputs (CT, "
                              "plan, beam model, calibration or settings differ): refusing to mix their sums")
            if status.get("state") not in TERMINAL and not folder.engine_alive():
                kept = len(folder.batch_files())
                self._engine = folder.start_engine()
                self.log(f"job {folder.job_id}: its engine process had stopped; resumed with {kept} batches kept")
            else:
                self.log(f"job {folder.job_id}: attached ({status.get('state')})")
            return folder
        if msg.header.get("attach"):
            raise _Refused("no-such-job", f"no job {folder.job_id} on this node (jobs folder {self.jobs_dir})")
        try:
            wire_jobs.decode_job(msg)  # refuse a damaged job now, not in the engine process
            wire_jobs.dij_request(msg)
        except (WireError, ValueError, TypeError) as exc:
            raise _Refused("bad-job", f"job {folder.job_id} cannot be read: {exc}") from None
        folder.create(wire.encode("job", msg.header, msg.arrays), digest)
        self._engine = folder.start_engine()
        self.log(f"job {folder.job_id}: started in {folder.path}")
        return folder

    def _read_client(self, read, folder: JobFolder) -> None:
        try:
            while True:
                msg = wire.read_message(read)
                if msg is None:
                    break
                if msg.kind == "cancel":
                    folder.request_cancel()
                elif msg.kind == "received":
                    self.received.set()
        except (WireError, OSError, ValueError):
            pass
        self.client_gone.set()

    def _engine_gone(self, folder: JobFolder) -> str | None:
        """Why the engine process is gone, or None while it lives."""
        if self._engine is not None:
            code = self._engine.poll()
            if code is None:
                return None
            if code < 0:
                return f"killed by signal {-code}"
            return f"exited with status {code}"
        return None if folder.engine_alive() else "its process is gone"

    def _stream(self, folder: JobFolder, have: set[int]) -> int:
        # What is already on disk and the client lacks goes as one merged frame, then each new batch file.
        sent_files: set[str] = set()
        if not folder.is_dij():  # a matrix's blocks go one by one below; a dose's stored batches as one sum
            snap, files = folder.merged(have)
            sent_files = {p.name for p in files}
            if snap is not None:
                self.send(wire.encode_snapshot(snap))
                have.update(snap.batches)
        while not self.client_gone.is_set():
            status = folder.status()  # read before the files: a final state means all files are there
            for path in folder.batch_files():
                if path.name in sent_files:
                    continue
                sent_files.add(path.name)
                frame, batches = folder.read_batch_frame(path)
                if set(batches) & have:
                    continue
                self.send(frame)
                have.update(batches)
            state = status.get("state")
            if state in ("done", "cancelled"):
                if self._all_sent(folder, sent_files):
                    self.send(wire.encode("done", {"state": state, "job_id": folder.job_id,
                                                    "batches": sorted(have), "device": status.get("device", "")}))
                    if self._wait_for_receipt():
                        remove_job(folder)  # the client has it all; an old client never says so: --prune
                    return 0
                continue
            if state == "failed":
                if self._all_sent(folder, sent_files):
                    return self.error("engine", f"job {folder.job_id} failed: {status.get('error', '?')}")
                continue
            gone = self._engine_gone(folder)
            if gone is not None and folder.status().get("state") not in TERMINAL:
                if not self._all_sent(folder, sent_files):
                    continue
                return self.error("worker-died", f"the engine process of job {folder.job_id} died ({gone}) "
                                                 f"after {len(have)} batches; they are kept in {folder.path}: "
                                                 "re-attach to resume")
            time.sleep(POLL_S)
        return 0

    def _wait_for_receipt(self) -> bool:
        """True once the client says it holds the result; False if it goes away or stays silent."""
        deadline = time.monotonic() + RECEIPT_WAIT_S
        while time.monotonic() < deadline:
            if self.received.wait(POLL_S):
                return True
            if self.client_gone.is_set():
                return self.received.is_set()
        return False

    @staticmethod
    def _all_sent(folder: JobFolder, sent_files: set[str]) -> bool:
        return all(p.name in sent_files for p in folder.batch_files())


def serve_stdio(jobs_dir: Path | None = None) -> int:
    """``braggdesk worker``: the wire on this process's standard input and output."""
    os.umask(0o077)  # whatever this process and the engine it starts write stays with the node's account
    stdout = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames may reach the real standard output
    return Worker(sys.stdin.buffer, stdout, jobs_dir).serve()
