"""Beam-model files: what the nozzle delivers at each nominal energy.

Two formats are read, detected from the content: the DCPT CSV (:mod:`.beam_model_dcpt`) and MCsquare's
BDL (:mod:`.beam_model_bdl`, which also writes it).  All readers raise
:class:`~braggdesk.errors.InputError` with the file and line.
"""

from __future__ import annotations

from pathlib import Path

from braggdesk.errors import InputError
from braggdesk.model.beam_model import BeamModel
from braggdesk.physics.packaged import resource_path

from .beam_model_bdl import read_bdl, write_bdl
from .beam_model_checks import read_lines
from .beam_model_dcpt import DCPT_COLUMNS, DCPT_VSAD_MM, dcpt_range_shifters, read_dcpt_beam_model

__all__ = [
    "DCPT_VSAD_MM",
    "DEFAULT_BEAM_MODEL",
    "available_beam_models",
    "dcpt_range_shifters",
    "read_bdl",
    "read_beam_model",
    "read_dcpt_beam_model",
    "write_bdl",
]

DEFAULT_BEAM_MODEL = "generic_pbs.bdl"


def available_beam_models() -> list[str]:
    """File names in ``resources/beam_models/`` that :func:`read_beam_model` accepts as names."""
    folder = resource_path("beam_models")
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".bdl", ".csv", ".txt"))


def read_beam_model(path: str | Path | None = None) -> BeamModel:
    """Read a beam model (DCPT CSV or MCsquare BDL, detected from the content).

    ``None`` gives the default model shipped in ``resources/beam_models/``
    (:data:`DEFAULT_BEAM_MODEL`, a generic MCsquare BDL derived from DCPT v5).  The name of a
    shipped file, with or without its suffix (``"dcpt_v5"``), also works.
    """
    if path is None:
        return read_bdl(resource_path(f"beam_models/{DEFAULT_BEAM_MODEL}"))
    candidate = Path(path)
    if isinstance(path, str) and not candidate.exists():
        for shipped in available_beam_models():
            if path.strip() in (shipped, Path(shipped).stem):
                candidate = resource_path(f"beam_models/{shipped}")
    lines = read_lines(candidate)
    content = [line.strip() for line in lines if line.strip()]
    if any(line.lower() == "beam parameters" for line in content):
        return read_bdl(candidate)
    if content and content[0].lower().startswith("--lookup table"):
        raise InputError(candidate, "MCsquare 'Lookup table' BDL files are not supported; "
                                    "expected the UPenn BDL format or a DCPT beam-model CSV")
    if any("BMODPOS" in line for line in content) or _looks_like_dcpt(content):
        return read_dcpt_beam_model(candidate)
    raise InputError(candidate, "not a beam model braggdesk knows: expected an MCsquare BDL (with a "
                                "'Beam parameters' section) or a DCPT beam-model CSV (with a 'BMODPOS ... mm' comment)")

def _looks_like_dcpt(content: list[str]) -> bool:
    data = [line for line in content if not line.startswith("#")]
    return bool(data) and data[0].count(",") == len(DCPT_COLUMNS) - 1
