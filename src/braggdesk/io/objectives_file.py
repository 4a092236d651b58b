"""The objectives file: a planning request (prescription, beams, objectives, design) in TOML.

Format (docs/planning.md has every key)::

    prescription_gy = 70.0      # total dose
    fractions = 35
    [[beam]]
    gantry_deg = 60
    [[objective]]
    structure = "PTV70"
    kind = "uniform"
    dose_gy = 70.0
    weight = 100
    [design]
    spot_spacing_mm = 5.0

Why strict: a misspelt key (``weigth``) silently ignored would give a plan the planner did
not ask for, so every unknown key, wrong type or missing field is refused with one line
naming the file, the entry (``objective 3 (SpinalCord)``) and the problem.  The model's
dataclasses check values; this module checks the file's shape and adds the place.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..model.objectives import BeamRequest, Objective, PlanningRequest, Ring

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10 with the tomli backport
    import tomli as tomllib  # type: ignore[no-redef]

TOP_KEYS = {"prescription_gy", "fractions", "targets", "goals", "beam", "objective", "design", "ring"}
RING_KEYS = {f.name for f in dataclasses.fields(Ring)}
BEAM_KEYS = {f.name for f in dataclasses.fields(BeamRequest)}
OBJECTIVE_KEYS = {f.name for f in dataclasses.fields(Objective)}
DESIGN_KEYS = {"spot_spacing_mm", "layer_spacing_mm", "margin_mm", "min_mu_per_spot", "histories_per_spot",
               "dij_uncertainty"}
EXPECTED = "a TOML objectives file (prescription_gy, fractions, [[beam]], [[objective]]; see docs/planning.md)"


class ObjectivesFileError(InputError):
    """An objectives file that cannot be used; ``entry`` says where in it (None: the file as a whole)."""

    def __init__(self, path: str | Path, entry: str | None, problem: str):
        self.entry = entry
        super().__init__(path, f"{entry}: {problem}" if entry else problem)


def read_planning_request(path: str | Path) -> PlanningRequest:
    """Read and validate a planning request from the TOML objectives file at ``path``."""
    path = Path(path)
    data = _load(path)
    _refuse_unknown(path, "top level", data, TOP_KEYS)
    beams = [_beam(path, i, entry) for i, entry in enumerate(_tables(path, data, "beam"), start=1)]
    objectives = [_objective(path, i, entry) for i, entry in enumerate(_tables(path, data, "objective"), start=1)]
    rings = [_ring(path, i, entry) for i, entry in enumerate(_tables(path, data, "ring"), start=1)]
    if not beams:
        raise ObjectivesFileError(path, None, "no [[beam]] entry; a plan needs at least one beam (gantry_deg = ...)")
    if not objectives:
        raise ObjectivesFileError(path, None, "no [[objective]] entry; a plan needs at least one objective")
    design = data.get("design", {})
    if not isinstance(design, dict):
        raise ObjectivesFileError(path, "design", f"must be a table ([design]), got {_type(design)}")
    _refuse_unknown(path, "[design]", design, DESIGN_KEYS)
    for key in ("prescription_gy", "fractions"):
        if key not in data:
            raise ObjectivesFileError(path, "top level", f"missing '{key}'")
    targets = _string_list(path, data, "targets")
    goals = _string_list(path, data, "goals")
    try:
        return PlanningRequest(
            prescription_gy=data["prescription_gy"], fractions=data["fractions"], beams=beams,
            objectives=objectives, targets=targets, goals=goals, rings=rings, **design,
        )
    except ValueError as exc:
        where = "[design]" if any(key in str(exc) for key in DESIGN_KEYS) else "top level"
        raise ObjectivesFileError(path, where, str(exc)) from None


def _load(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise ObjectivesFileError(path, None, f"is a folder; expected {EXPECTED}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ObjectivesFileError(path, None, f"cannot read the objectives file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ObjectivesFileError(path, None, f"not a text file ({exc.reason} at byte {exc.start}); "
                                              f"expected {EXPECTED}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ObjectivesFileError(path, None, f"not valid TOML: {exc}") from None


def _tables(path: Path, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The ``[[key]]`` array of tables, refusing ``key = ...`` written as a plain value."""
    entries = data.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ObjectivesFileError(path, key, f"must be an array of tables, written [[{key}]], got {_type(entries)}")
    return entries


def _beam(path: Path, number: int, entry: dict[str, Any]) -> BeamRequest:
    where = f"beam {number}"
    _refuse_unknown(path, where, entry, BEAM_KEYS)
    if "gantry_deg" not in entry:
        raise ObjectivesFileError(path, where, "missing 'gantry_deg'")
    iso = entry.get("isocenter_mm")
    if iso is not None and not isinstance(iso, list):
        raise ObjectivesFileError(path, where, f"isocenter_mm must be [x, y, z] in mm, got {_type(iso)}")
    try:
        return BeamRequest(**{**entry, **({"isocenter_mm": tuple(iso)} if iso is not None else {})})
    except ValueError as exc:
        raise ObjectivesFileError(path, where, str(exc)) from None


def _objective(path: Path, number: int, entry: dict[str, Any]) -> Objective:
    name = entry.get("structure")
    where = f"objective {number} ({name})" if isinstance(name, str) and name else f"objective {number}"
    _refuse_unknown(path, where, entry, OBJECTIVE_KEYS)
    for key in ("structure", "kind", "dose_gy"):
        if key not in entry:
            raise ObjectivesFileError(path, where, f"missing '{key}'")
    if "weight" not in entry:
        raise ObjectivesFileError(path, where, "missing 'weight' (the objective's importance, >= 0)")
    try:
        return Objective(**entry)
    except ValueError as exc:
        raise ObjectivesFileError(path, where, str(exc)) from None


def _ring(path: Path, number: int, entry: dict[str, Any]) -> Ring:
    name = entry.get("name")
    where = f"ring {number} ({name})" if isinstance(name, str) and name else f"ring {number}"
    _refuse_unknown(path, where, entry, RING_KEYS)
    for key in ("name", "around", "outer_mm"):
        if key not in entry:
            raise ObjectivesFileError(path, where, f"missing '{key}'")
    try:
        return Ring(**entry)
    except ValueError as exc:
        raise ObjectivesFileError(path, where, str(exc)) from None


def _string_list(path: Path, data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ObjectivesFileError(path, "top level", f"{key} must be a list of texts, got {value!r}")
    return list(value)


def _refuse_unknown(path: Path, where: str, table: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ObjectivesFileError(
            path, where, f"unknown key '{unknown[0]}'; known keys here: {', '.join(sorted(known))}")


def _type(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def write_planning_request(request: PlanningRequest, path: str | Path) -> Path:
    """Write ``request`` as an objectives file that :func:`read_planning_request` reads back unchanged.

    The GUI's Save writes what its tables hold; keys left at None (design defaults, no
    volume, no range shifter) are left out, so the file reads like a hand-written one.
    """
    path = Path(path)
    lines = [f"prescription_gy = {_toml(request.prescription_gy)}", f"fractions = {request.fractions}"]
    if request.targets:
        lines.append(f"targets = {_toml(list(request.targets))}")
    if request.goals:
        lines.append(f"goals = {_toml(list(request.goals))}")
    for beam in request.beams:
        lines += ["", "[[beam]]", f"gantry_deg = {_toml(beam.gantry_deg)}"]
        if beam.couch_deg:
            lines.append(f"couch_deg = {_toml(beam.couch_deg)}")
        if beam.isocenter_mm is not None:
            lines.append(f"isocenter_mm = {_toml([float(v) for v in beam.isocenter_mm])}")
        if beam.range_shifter:
            lines.append(f"range_shifter = {_toml(beam.range_shifter)}")
    for objective in request.objectives:
        lines += ["", "[[objective]]", f"structure = {_toml(objective.structure)}", f"kind = {_toml(objective.kind)}",
                  f"dose_gy = {_toml(objective.dose_gy)}"]
        if objective.volume_percent is not None:
            lines.append(f"volume_percent = {_toml(objective.volume_percent)}")
        lines.append(f"weight = {_toml(objective.weight)}")
    for ring in request.rings:
        lines += ["", "[[ring]]", f"name = {_toml(ring.name)}", f"around = {_toml(list(ring.around))}",
                  f"outer_mm = {_toml(ring.outer_mm)}"]
        if ring.inner_mm:
            lines.append(f"inner_mm = {_toml(ring.inner_mm)}")
    design = {key: getattr(request, key) for key in sorted(DESIGN_KEYS) if getattr(request, key) is not None}
    if design:
        lines += ["", "[design]"] + [f"{key} = {_toml(value)}" for key, value in design.items()]
    try:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ObjectivesFileError(path, None, f"cannot write the objectives file: {exc.strerror or exc}") from None
    return path


def _toml(value: object) -> str:
    """A TOML literal for the few types a request holds (JSON's string escapes are valid TOML)."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML literal for {value!r}")
