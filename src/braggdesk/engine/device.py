"""Where the kernel runs: the CPU cores (Numba) or an NVIDIA GPU (numba-cuda), explained.

A :class:`Device` says what it is ("CPU: <model> (8 of 8 cores)", "GPU: NVIDIA H100 ...") and,
when ``auto`` could not use a GPU, why; a GPU asked for by name that cannot be used is a
:class:`~braggdesk.errors.DeviceError` with the reason.  Checking for a GPU never compiles or
launches anything.
"""

from __future__ import annotations

import ctypes.util
import os
from dataclasses import dataclass

from ..errors import DeviceError

DEVICE_REQUESTS = ("auto", "cpu", "gpu")


@dataclass(frozen=True)
class Device:
    kind: str  # "cpu" or "cuda"
    name: str
    threads: int = 1  # CPU threads the kernel uses (1 on a GPU: the host thread)
    note: str = ""  # e.g. why "auto" fell back to the CPU

    @property
    def is_gpu(self) -> bool:
        return self.kind == "cuda"


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "CPU"


def cpu_name(threads: int | None = None) -> str:
    cores = available_cores()
    used = cores if threads is None else threads
    return f"CPU: {cpu_model()} ({used} of {cores} cores)"


def _nvidia_driver_present() -> bool:
    """Whether an NVIDIA driver is on this machine at all (cheap: no CUDA import, no device query)."""
    if os.path.exists("/proc/driver/nvidia/version"):
        return True
    return ctypes.util.find_library("cuda") is not None


def gpu_status() -> tuple[bool, str]:
    """(usable, a sentence saying what was found).  Imports numba-cuda (0.4 s) only where an NVIDIA driver
    is installed, and initialises no kernel."""
    if not _nvidia_driver_present() and not os.environ.get("NUMBA_ENABLE_CUDASIM"):
        return False, "no NVIDIA driver on this machine"
    try:
        from numba import cuda  # noqa: PLC0415
    except ImportError:
        return False, "numba-cuda is not installed (pip install 'braggdesk[gpu]')"
    try:
        if not cuda.is_available():
            return False, "numba-cuda is installed but no CUDA GPU is visible (no driver or no device)"
        device = cuda.get_current_device()
        name = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
        major, minor = device.compute_capability
        return True, f"GPU: {name} (compute capability {major}.{minor})"
    except Exception as exc:  # driver errors come in many types
        return False, f"numba-cuda cannot use the GPU: {exc}"


def check_threads(threads: int | None) -> int:
    """The CPU thread count to use: ``threads`` if it is a positive integer, else all cores."""
    if threads is None:
        return available_cores()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise DeviceError(f"threads must be a positive whole number, got {threads!r}")
    return threads


def select_device(request: str = "auto", threads: int | None = None) -> Device:
    """The CPU for "cpu"; the GPU for "gpu" (or DeviceError); "auto" tries the GPU, then says why not."""
    if request not in DEVICE_REQUESTS:
        raise DeviceError(f"unknown device {request!r}: expected one of {', '.join(DEVICE_REQUESTS)}")
    n_threads = check_threads(threads)
    if request == "cpu":
        return Device("cpu", cpu_name(n_threads), n_threads)
    usable, status = gpu_status()
    if usable:
        return Device("cuda", status, 1)
    if request == "gpu":
        raise DeviceError(f"the GPU was requested but cannot be used: {status}")
    return Device("cpu", cpu_name(n_threads), n_threads, note=f"running on the CPU cores: {status}")
