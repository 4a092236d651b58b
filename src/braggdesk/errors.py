"""One root exception for braggdesk, and a few subclasses callers can catch.

Every message names the file (where there is one) and says what was found and
what was expected, so the CLI can print it as one line and the GUI as a dialog.
"""

from __future__ import annotations

from pathlib import Path


class BraggdeskError(Exception):
    """Root of every error braggdesk raises on purpose.

    ``exit_code`` is what the command exits with (see ``braggdesk --help``): 2 for
    bad usage or input (the default: most errors are about what was given), 1 for
    a failure of the machine, the network or the disk.
    """

    exit_code = 2


class InputError(BraggdeskError):
    """A file or folder cannot be used as it is (unreadable, inconsistent, out of range)."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)


class PlanError(BraggdeskError):
    """A plan cannot be simulated with the given beam model or CT."""


class DeviceError(BraggdeskError):
    """The requested compute device is not available, or it failed."""

    exit_code = 1


class BraggdeskWarning(UserWarning):
    """Something the user should know about, but which does not stop the work."""


class WireError(BraggdeskError):
    """A frame of the job wire format cannot be read, or the other side speaks another protocol version."""


class RemoteError(BraggdeskError):
    """A remote node cannot be used, or it failed: the message names the host and the cause."""

    exit_code = 1

    def __init__(self, host: str, problem: str, job_id: str = ""):
        self.host = host
        self.problem = problem
        self.job_id = job_id
        super().__init__(f"{host}: {problem}")


class OutputError(BraggdeskError):
    """A result could not be written where asked; the message says where it was kept instead, if anywhere."""

    exit_code = 1

    def __init__(self, path: str | Path, problem: str, kept_at: str | Path | None = None):
        self.path = Path(path)
        self.problem = problem
        self.kept_at = None if kept_at is None else Path(kept_at)
        super().__init__(f"{self.path}: {problem}")
