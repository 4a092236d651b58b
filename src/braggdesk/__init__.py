"""braggdesk: Monte Carlo proton therapy dose calculation workstation.

``import braggdesk as bd`` gives the Python API (:mod:`braggdesk.workflow.api`): open a patient
folder, build a job, compute a dose on any runner and follow its batches, DVHs, metrics, gamma,
and exports.  The names load on first use, so ``braggdesk --help`` stays quick.

Layers (imports point down): model -> physics -> io -> engine / analysis -> planning -> compute
-> workflow -> viewers / report -> gui -> cli.  See DESIGN.md of the project.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

_API = ("BraggdeskError", "InputError", "Case", "Computation", "DoseResult", "Job", "Workspace", "calculate", "demo_case", "dose_statistics", "dvh",
        "export_dvh_csv", "export_map", "export_metrics_csv", "export_result", "export_rtdose", "gamma", "make_job",
        "metrics", "open_folder", "rbe_weighted", "structure_masks")
__all__ = ["__version__", *_API]

if TYPE_CHECKING:  # for type checkers and editors: the names as they are
    from .workflow.api import (BraggdeskError, InputError, Case, Computation, DoseResult, Job, Workspace, calculate, demo_case,  # noqa: F401
                               dose_statistics, dvh, export_dvh_csv, export_map, export_metrics_csv, export_result,
                               export_rtdose, gamma, make_job, metrics, open_folder, rbe_weighted, structure_masks)


def __getattr__(name: str) -> Any:
    if name in _API:
        from .workflow import api

        return getattr(api, name)
    raise AttributeError(f"module 'braggdesk' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
