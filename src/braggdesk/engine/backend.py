"""Array backend choice: numpy everywhere, CuPy where an NVIDIA GPU is usable.

The transport is written once against ``xp`` (the array namespace numpy and
CuPy share).  A backend explains itself: what it runs on, and if the GPU was
asked for but cannot be used, why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from ..errors import DeviceError


@dataclass
class Backend:
    name: str  # "numpy" or "cupy"
    xp: ModuleType
    device_name: str
    note: str = ""  # e.g. why auto fell back to the CPU

    @property
    def is_gpu(self) -> bool:
        return self.name == "cupy"

    def asarray(self, a, dtype=None):
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a) -> np.ndarray:
        return a.get() if self.is_gpu else np.asarray(a)

    def rng(self, seed: int):
        """A generator of this backend seeded with a 64-bit integer."""
        if self.is_gpu:
            return self.xp.random.default_rng(seed)
        return np.random.Generator(np.random.PCG64(seed))

    def synchronize(self) -> None:
        if self.is_gpu:
            self.xp.cuda.Stream.null.synchronize()


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return f"CPU: {line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"CPU ({os.cpu_count()} cores)"


def gpu_status() -> tuple[ModuleType | None, str]:
    """(cupy module or None, a sentence saying what was found)."""
    try:
        import cupy  # noqa: PLC0415
    except ImportError:
        return None, "CuPy is not installed (pip install 'braggdesk[gpu]')"
    try:
        if not cupy.cuda.is_available() or cupy.cuda.runtime.getDeviceCount() < 1:
            return None, "CuPy is installed but no CUDA GPU is visible"
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        return cupy, f"GPU: {name}"
    except Exception as exc:  # driver errors come in many types
        return None, f"CuPy cannot use the GPU: {exc}"


def select_backend(device: str = "auto") -> Backend:
    """numpy for "cpu"; CuPy for "gpu" (or DeviceError); "auto" tries the GPU, then says it fell back."""
    if device not in ("auto", "cpu", "gpu"):
        raise DeviceError(f"unknown device {device!r}: expected auto, cpu or gpu")
    if device == "cpu":
        return Backend("numpy", np, cpu_name())
    cupy, status = gpu_status()
    if cupy is not None:
        return Backend("cupy", cupy, status)
    if device == "gpu":
        raise DeviceError(f"the GPU was requested but cannot be used: {status}")
    return Backend("numpy", np, cpu_name(), note=f"running on the CPU with numpy: {status}")
