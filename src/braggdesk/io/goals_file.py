"""A list of clinical goals from a TOML file: one ``[[goal]]`` table per goal.

Why TOML: a goals list is written and reviewed by hand, kept next to the plan, and must not be
misread; TOML has typed numbers and strings and nothing else.  Each entry::

    prescription_gy = 70.0          # optional, top level: for V<x>% metrics

    [[goal]]
    structure = "PTV70"
    metric = "D95%"
    threshold = 66.5
    comparison = ">="
    unit = "Gy"                     # optional: Gy for doses; % (default) or cm3 for V metrics
    name = "PTV coverage"           # optional label in reports
    prescription_gy = 70.0          # optional, overrides the top level

or the text form in one key: ``goal = "PTV70 D95% >= 66.5 Gy"``.  A key we do not know (a typo
such as ``treshold``) is refused, naming the file and the entry, rather than silently dropped.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from braggdesk.errors import InputError
from braggdesk.model.clinical_goals import ClinicalGoal, GoalError, parse_goal

GOAL_KEYS = ("structure", "metric", "threshold", "comparison", "unit", "name", "prescription_gy")
TOP_KEYS = ("goal", "prescription_gy")


def read_goals(path: str | Path) -> list[ClinicalGoal]:
    """The goals of a TOML goals file, in file order; InputError naming the file and entry otherwise."""
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "is a folder; expected a TOML goals file ([[goal]] tables)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise InputError(path, f"cannot read the goals file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not a text file ({exc.reason} at byte {exc.start}); expected TOML") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, f"not valid TOML: {exc}") from exc
    return goals_from_mapping(data, path)


def goals_from_mapping(data: dict, path: str | Path | None = None) -> list[ClinicalGoal]:
    """Goals from parsed TOML (``{"goal": [...], "prescription_gy": ...}``); ``path`` only names the source."""
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise InputError(path, f"unknown top-level key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                               f"expected [[goal]] tables and optionally prescription_gy")
    entries = data.get("goal")
    if not isinstance(entries, list) or not entries:
        raise InputError(path, "holds no [[goal]] tables")
    default_rx = data.get("prescription_gy")
    goals = []
    for number, entry in enumerate(entries, start=1):
        where = f"goal {number}"
        if not isinstance(entry, dict):
            raise InputError(path, f"{where}: expected a [[goal]] table, got {entry!r}")
        rx = entry.get("prescription_gy", default_rx)
        try:
            if set(entry) <= {"goal", "name", "prescription_gy"} and "goal" in entry:
                goal = parse_goal(str(entry["goal"]), prescription_gy=rx)
                if entry.get("name"):
                    goal = ClinicalGoal(goal.structure, goal.metric, goal.threshold, goal.comparison,
                                        goal.threshold_unit, goal.prescription_gy, str(entry["name"]))
            else:
                unknown = sorted(set(entry) - set(GOAL_KEYS))
                if unknown:
                    raise GoalError(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                                    f"a goal has {', '.join(GOAL_KEYS)} (or goal = \"TEXT\")")
                missing = [k for k in ("structure", "metric", "threshold", "comparison") if k not in entry]
                if missing:
                    raise GoalError(f"missing {', '.join(missing)}")
                if isinstance(entry["threshold"], bool) or not isinstance(entry["threshold"], (int, float)):
                    raise GoalError(f"threshold {entry['threshold']!r} is not a number")
                goal = ClinicalGoal(str(entry["structure"]), str(entry["metric"]), float(entry["threshold"]),
                                    str(entry["comparison"]), str(entry.get("unit", "")), rx,
                                    str(entry.get("name", "")))
        except GoalError as exc:
            label = entry.get("structure") or entry.get("goal") or ""
            raise InputError(path, f"{where}{f' ({label})' if label else ''}: {exc}") from None
        goals.append(goal)
    return goals
