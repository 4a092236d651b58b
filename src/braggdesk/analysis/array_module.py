"""The array module for the array-shaped analyses (gamma index, resampling): numpy, or CuPy on a GPU.

The Monte Carlo engine is a compiled kernel (engine/kernel); the gamma search is written against
``xp`` and runs on CuPy when it is installed and a GPU is visible.  Like the engine's device
choice, the answer explains itself: what it runs on, and why not the GPU if that was asked for.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from ..errors import DeviceError


def cupy_status() -> tuple[ModuleType | None, str]:
    """(cupy module or None, a sentence saying what was found)."""
    try:
        import cupy  # noqa: PLC0415
    except ImportError:
        return None, "CuPy is not installed (pip install cupy-cuda12x)"
    try:
        if not cupy.cuda.is_available() or cupy.cuda.runtime.getDeviceCount() < 1:
            return None, "CuPy is installed but no CUDA GPU is visible"
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        return cupy, f"GPU: {name} (CuPy)"
    except Exception as exc:  # driver errors come in many types
        return None, f"CuPy cannot use the GPU: {exc}"


def array_module(device: str = "cpu") -> tuple[ModuleType, str]:
    """(numpy or cupy, what it runs on) for "cpu", "gpu" (or DeviceError) or "auto"."""
    if device not in ("auto", "cpu", "gpu"):
        raise DeviceError(f"unknown device {device!r}: expected auto, cpu or gpu")
    if device == "cpu":
        return np, "CPU (numpy)"
    cupy, status = cupy_status()
    if cupy is not None:
        return cupy, status
    if device == "gpu":
        raise DeviceError(f"the GPU was requested but cannot be used: {status}")
    return np, f"CPU (numpy): {status}"
