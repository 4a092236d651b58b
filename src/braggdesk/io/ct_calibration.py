"""CT calibrations: which mass density and which material each Hounsfield unit stands for.

:func:`read_ct_calibration` accepts

* a built-in name (case-insensitive): ``"schneider"`` (the default; Schneider et al. 2000 as
  tabulated by TOPAS, :func:`schneider_calibration`), ``"water"`` (every HU is water at
  1.0 g/cm3: "this CT is water", :func:`water_calibration`), or the name of a file or folder in
  ``resources/calibrations/`` such as ``"mcsquare_ucl_toshiba"``;
* an MCsquare scanner folder (``HU_Density_Conversion.txt`` + ``HU_Material_Conversion.txt``),
  or either of those two files;
* a braggdesk calibration CSV file (format below), or a folder holding ``ct_calibration.csv``
  (the phantom folders braggdesk writes hold one).

A name is taken as a built-in name before it is taken as a path; pass ``Path("water")`` or
``"./water"`` to read a file that happens to be called like a built-in.

MCsquare scanner files (MCsquare ``Scanners/<name>/``): ``#`` starts a comment anywhere on a line.
``HU_Density_Conversion.txt`` has lines ``HU density_g_cm3`` (linear between points, and along
the end segments beyond the first and last point, as MCsquare does).  ``HU_Material_Conversion.txt``
has lines ``HU label`` where HU is the lowest HU of the section and ``label`` MCsquare's material
number (``Materials/list.dat``); a material name may follow as a third column
(``-950 40 Schneider_Lung``) or as the comment (``-950 40 # Schneider_Lung``); names alone
(``-950 Schneider_Lung``) are accepted too.  The materials of a scanner are MCsquare's, with
MCsquare's own stopping powers (``braggdesk.physics.mcsquare``), so MCsquare's calibration gives
MCsquare's ranges: a name in a data column is looked up in MCsquare's database first, then in the
material library (an unknown one is an error); otherwise the label number is MCsquare's material
of that label, and a name in the comment is used only when the label is not one MCsquare ships (a
custom material).

braggdesk calibration CSV (``ct_calibration.csv``) -- one file, three sections; lines starting
with ``#`` and blank lines are ignored; each section's first row names its columns::

    # braggdesk CT calibration
    [calibration]
    name,DCPT slab phantom
    note,Solid Water HE at its nominal density
    [density]
    hu,density_g_cm3
    -1000,0.00120479
    0,1.032
    [materials]
    hu_min,material,density_g_cm3,mass_fractions,i_value_ev,stopping_power_table
    -1000,Air,,,,
    -500,Solid_Water_HE,1.032,H:0.08 C:0.673 N:0.0239 O:0.1987 Cl:0.0014 Ca:0.0231,,

* ``[calibration]`` (optional): rows ``key,value``; ``name`` (default: the file's stem) and any
  number of ``note`` rows.
* ``[density]``: HU -> mass density points, HU strictly increasing; linear in between,
  and beyond the first and last point along the end segment (never below 0); a table of one
  point is constant.
* ``[materials]``: one row per HU section, ``hu_min`` strictly increasing; a section reaches
  up to the next one's ``hu_min``, and HU below the first ``hu_min`` belong to the first.
  ``material`` names a library material (case-insensitive).  If ``mass_fractions`` is given
  (``Symbol:fraction`` separated by spaces) it defines the material inline and the name
  need not be in the library -- that is how custom materials survive a round trip.  Optional
  ``density_g_cm3`` overrides the material's nominal density and ``i_value_ev`` its I-value;
  ``stopping_power_table`` (``mcsquare:<MCsquare material>``) takes the stopping power from that
  table instead of the composition (a library material of MCsquare's database has it already).

Voxel density always comes from the ``[density]`` table; a material's own density is only
nominal (used where a section says "use the material's density", e.g. by phantom builders).

:func:`write_calibration_csv` writes this format with every material's full composition, so
reading it back gives an equal calibration.  Errors (unreadable file, unknown material,
HU not increasing, non-numbers) raise :class:`~braggdesk.errors.InputError` naming the file
and line.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import numpy as np

from braggdesk.errors import InputError

from braggdesk.model.material import CtCalibration, Material
from braggdesk.physics.library import (
    UnknownMaterialError,
    format_mass_fractions,
    get_material,
    material_by_mcsquare_label,
    mcsquare_label_of,
    parse_mass_fractions,
)
from braggdesk.physics.mcsquare import mcsquare_materials, mcsquare_stopping_table_name
from braggdesk.physics.packaged import resource_path
from braggdesk.physics.schneider import schneider_density, schneider_density_sections, schneider_materials

from .text_files import parse_number, read_text_lines

__all__ = [
    "BUILTIN_CALIBRATIONS",
    "CALIBRATION_CSV_NAME",
    "MCSQUARE_DENSITY_FILE",
    "MCSQUARE_MATERIAL_FILE",
    "available_calibrations",
    "find_calibration_in_folder",
    "read_ct_calibration",
    "schneider_calibration",
    "water_calibration",
    "write_calibration_csv",
]

CALIBRATION_CSV_NAME = "ct_calibration.csv"
MCSQUARE_DENSITY_FILE = "HU_Density_Conversion.txt"
MCSQUARE_MATERIAL_FILE = "HU_Material_Conversion.txt"
BUILTIN_CALIBRATIONS = ("schneider", "water")

_MATERIAL_COLUMNS = ["hu_min", "material", "density_g_cm3", "mass_fractions", "i_value_ev", "stopping_power_table"]


# ---------------------------------------------------------------------------------------------
# Built-ins


def schneider_calibration() -> CtCalibration:
    """Schneider, Bortfeld and Schlegel, Phys. Med. Biol. 45 (2000) 459, as tabulated by TOPAS.

    Density: the 7 TOPAS sections ``density = offset + factor * (factor_offset + HU)`` on
    [hu_min, hu_max) become a piecewise-linear point table with a point at each section's
    lower bound and one at ``hu_max - 1`` (where the next section jumps), so every integer
    HU from -1000 to 2995 gets exactly the TOPAS value.  TOPAS clamps HU to its table, so below
    -1000 and above 2995 the end values hold: flat end segments (points at -1001 and 2996) keep
    that under the end-segment extrapolation of every calibration (the last real segment is the
    jump from bone to titanium, which no density should follow).  TOPAS's per-HU
    ``DensityCorrection`` factor is NOT applied: it is a Geant4-versus-XiO stopping-power fudge of
    TOPAS's example, not part of Schneider 2000.

    Materials: the 25 composition sections (:func:`~braggdesk.physics.schneider.schneider_materials`),
    the last being TOPAS's titanium section at 2995 HU.
    """
    sections_hu = schneider_density_sections()
    hu_points: list[float] = [sections_hu[0][0] - 1]
    for hu_min, hu_max, *_ in sections_hu:
        for hu in (hu_min, hu_max - 1):
            if hu > hu_points[-1]:
                hu_points.append(hu)
    hu_points.append(sections_hu[-1][1])
    sections = schneider_materials()
    return CtCalibration(
        name="schneider",
        density_hu=np.array(hu_points),
        density_g_cm3=schneider_density(np.array(hu_points)),
        material_hu_min=np.array([s[0] for s in sections]),
        materials=[s[2] for s in sections],
        source_path="builtin:schneider",
        notes=[
            "Schneider et al. 2000 (Phys. Med. Biol. 45:459) as tabulated by TOPAS HUtoMaterialSchneider.txt",
            "TOPAS DensityCorrection not applied",
        ],
    )


def water_calibration() -> CtCalibration:
    """Every HU is water at 1.0 g/cm3 -- for phantoms whose CT numbers mean nothing."""
    return CtCalibration(
        name="water",
        density_hu=np.array([0.0]),
        density_g_cm3=np.array([1.0]),
        material_hu_min=np.array([0.0]),
        materials=[get_material("Water")],
        source_path="builtin:water",
        notes=["every HU is water at 1.0 g/cm3"],
    )


def available_calibrations() -> list[str]:
    """Names :func:`read_ct_calibration` accepts besides paths."""
    folder = resource_path("calibrations")
    shipped = sorted(
        p.stem if p.is_file() else p.name
        for p in folder.iterdir()
        if (p.suffix == ".csv" or (p.is_dir() and _has_mcsquare_pair(p)))
    )
    return list(BUILTIN_CALIBRATIONS) + [n for n in shipped if n not in BUILTIN_CALIBRATIONS]


# ---------------------------------------------------------------------------------------------
# Reading


def read_ct_calibration(path_or_name: str | Path = "schneider") -> CtCalibration:
    """Read a CT calibration from a built-in name, an MCsquare scanner, or a braggdesk CSV."""
    if isinstance(path_or_name, str):
        name = path_or_name.strip().lower()
        if name == "schneider":
            return schneider_calibration()
        if name == "water":
            return water_calibration()
        if name in available_calibrations():
            shipped = resource_path(f"calibrations/{name}")
            return read_ct_calibration(shipped if shipped.is_dir() else shipped.with_suffix(".csv"))
    path = Path(path_or_name)
    if path.is_dir():
        found = find_calibration_in_folder(path)
        if found is None:
            raise InputError(path, f"the folder holds neither {CALIBRATION_CSV_NAME} nor an MCsquare scanner "
                                   f"({MCSQUARE_DENSITY_FILE} + {MCSQUARE_MATERIAL_FILE})")
        return found
    if path.name in (MCSQUARE_DENSITY_FILE, MCSQUARE_MATERIAL_FILE):
        return _read_mcsquare_scanner(path.parent)
    if not path.exists():
        raise InputError(path, "no such file or folder; expected a CT calibration file or folder, or one of "
                               f"the built-in names {', '.join(available_calibrations())}")
    return _read_calibration_csv(path)


def find_calibration_in_folder(folder: str | Path) -> CtCalibration | None:
    """The calibration kept in a folder (``ct_calibration.csv`` first, then an MCsquare pair), or None."""
    folder = Path(folder)
    if (folder / CALIBRATION_CSV_NAME).is_file():
        return _read_calibration_csv(folder / CALIBRATION_CSV_NAME)
    if _has_mcsquare_pair(folder):
        return _read_mcsquare_scanner(folder)
    return None


def _has_mcsquare_pair(folder: Path) -> bool:
    return (folder / MCSQUARE_DENSITY_FILE).is_file() and (folder / MCSQUARE_MATERIAL_FILE).is_file()


def _read_lines(path: Path) -> list[str]:
    return read_text_lines(path, "a CT calibration")


_number = parse_number


def _check_increasing(path: Path, rows: list[tuple[int, float]], what: str) -> None:
    for (_, previous), (line_no, hu) in zip(rows, rows[1:]):
        if hu <= previous:
            raise InputError(path, f"line {line_no}: {what} HU {hu:g} does not increase (previous {previous:g}); "
                                   "HU must be sorted in increasing order")


def _read_mcsquare_scanner(folder: Path) -> CtCalibration:
    density_path = folder / MCSQUARE_DENSITY_FILE
    material_path = folder / MCSQUARE_MATERIAL_FILE
    for p in (density_path, material_path):
        if not p.is_file():
            raise InputError(p, f"missing: an MCsquare scanner folder needs {MCSQUARE_DENSITY_FILE} "
                                f"and {MCSQUARE_MATERIAL_FILE}")

    density_rows: list[tuple[int, float]] = []
    densities: list[float] = []
    for line_no, line in enumerate(_read_lines(density_path), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) < 2:
            raise InputError(density_path, f"line {line_no}: found '{line.strip()}', expected 'HU density'")
        density_rows.append((line_no, _number(density_path, line_no, fields[0], "HU")))
        rho = _number(density_path, line_no, fields[1], "density")
        if rho < 0:
            raise InputError(density_path, f"line {line_no}: density {rho:g} g/cm3 is negative")
        densities.append(rho)
    if not density_rows:
        raise InputError(density_path, "no 'HU density' lines found")
    _check_increasing(density_path, density_rows, "density table")

    material_rows: list[tuple[int, float]] = []
    materials: list[Material] = []
    for line_no, line in enumerate(_read_lines(material_path), start=1):
        data, _, comment = line.partition("#")
        fields = data.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise InputError(material_path, f"line {line_no}: found '{line.strip()}', expected 'HU label [name]'")
        material_rows.append((line_no, _number(material_path, line_no, fields[0], "HU")))
        label = fields[1] if _is_int(fields[1]) else None
        names = [f for f in fields[1:] if not _is_int(f)]
        comment_words = comment.split()
        materials.append(_resolve_mcsquare_material(
            material_path, line_no, label, names, comment_words[0] if comment_words else None))
    if not material_rows:
        raise InputError(material_path, "no 'HU label' lines found")
    _check_increasing(material_path, material_rows, "material table")

    return CtCalibration(
        name=folder.name,
        density_hu=np.array([hu for _, hu in density_rows]),
        density_g_cm3=np.array(densities),
        material_hu_min=np.array([hu for _, hu in material_rows]),
        materials=materials,
        source_path=str(folder),
        notes=[f"MCsquare scanner {folder.name}"],
    )


def _is_int(text: str) -> bool:
    return text.lstrip("+").isdigit()


def _resolve_mcsquare_material(path: Path, line_no: int, label: str | None, names: list[str],
                               comment_name: str | None) -> Material:
    """A name in a data column first (MCsquare's database, then the library), then the label MCsquare
    itself uses, then a name in the comment."""
    for name in names:
        mcsquare_label = mcsquare_label_of(name)
        if mcsquare_label is not None:
            return material_by_mcsquare_label(mcsquare_label)
        try:
            return get_material(name)
        except UnknownMaterialError as exc:
            raise InputError(path, f"line {line_no}: {exc}") from None
    if label is not None:
        try:
            return material_by_mcsquare_label(int(label))
        except UnknownMaterialError:
            pass
    if comment_name:
        try:
            return get_material(comment_name)
        except UnknownMaterialError:
            pass
    raise InputError(path, f"line {line_no}: MCsquare material label {label}"
                           f"{f' ({comment_name})' if comment_name else ''} is unknown; known labels and names are "
                           "listed in resources/materials/mcsquare_materials.csv and braggdesk_materials.csv")


def _read_calibration_csv(path: Path) -> CtCalibration:
    sections: dict[str, list[tuple[int, list[str]]]] = {}
    current: str | None = None
    for line_no, line in enumerate(_read_lines(path), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[") and stripped.rstrip(",").endswith("]"):
            current = stripped.rstrip(",")[1:-1].strip().lower()
            if current in sections:
                raise InputError(path, f"line {line_no}: section [{current}] appears twice")
            sections[current] = []
            continue
        if current is None:
            raise InputError(path, f"line {line_no}: found '{stripped[:40]}' before any section; expected a braggdesk "
                                   "CT calibration CSV starting with [calibration], [density] or [materials]")
        try:
            fields = next(csv.reader([line]))
        except csv.Error as exc:
            raise InputError(path, f"line {line_no}: {exc}") from exc
        sections[current].append((line_no, [f.strip() for f in fields]))
    for required in ("density", "materials"):
        if required not in sections:
            raise InputError(path, f"no [{required}] section; a braggdesk CT calibration needs "
                                   "[density] and [materials]")

    name, notes = path.stem if path.name != CALIBRATION_CSV_NAME else path.parent.name, []
    for line_no, fields in sections.get("calibration", []):
        key = fields[0].lower()
        value = fields[1] if len(fields) > 1 else ""
        if key == "name":
            name = value
        elif key == "note":
            notes.append(value)

    density_rows, densities = [], []
    for line_no, row in _table(path, sections["density"], "density", ["hu", "density_g_cm3"]):
        density_rows.append((line_no, _number(path, line_no, row["hu"], "HU")))
        rho = _number(path, line_no, row["density_g_cm3"], "density")
        if rho < 0:
            raise InputError(path, f"line {line_no}: density {rho:g} g/cm3 is negative")
        densities.append(rho)
    _check_increasing(path, density_rows, "[density]")

    material_rows, materials = [], []
    for line_no, row in _table(path, sections["materials"], "materials", ["hu_min", "material"]):
        material_rows.append((line_no, _number(path, line_no, row["hu_min"], "hu_min")))
        materials.append(_material_from_row(path, line_no, row))
    _check_increasing(path, material_rows, "[materials]")

    return CtCalibration(
        name=name,
        density_hu=np.array([hu for _, hu in density_rows]),
        density_g_cm3=np.array(densities),
        material_hu_min=np.array([hu for _, hu in material_rows]),
        materials=materials,
        source_path=str(path),
        notes=notes,
    )


def _table(path: Path, rows: list[tuple[int, list[str]]], section: str,
           required: list[str]) -> list[tuple[int, dict[str, str]]]:
    if not rows:
        raise InputError(path, f"section [{section}] is empty; expected a header row ({','.join(required)}) and data")
    header_line, header = rows[0]
    header = [h.lower() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(path, f"line {header_line}: [{section}] header lacks column(s) {', '.join(missing)}; "
                               f"found {','.join(header)}")
    if len(rows) < 2:
        raise InputError(path, f"section [{section}] has a header but no data rows")
    table = []
    for line_no, fields in rows[1:]:
        if len(fields) > len(header):
            raise InputError(path, f"line {line_no}: {len(fields)} fields for {len(header)} columns in [{section}]")
        table.append((line_no, dict(zip(header, fields + [""] * (len(header) - len(fields))))))
    return table


def _material_from_row(path: Path, line_no: int, row: dict[str, str]) -> Material:
    name = row["material"]
    if not name:
        raise InputError(path, f"line {line_no}: the material column is empty")
    density_text = row.get("density_g_cm3", "")
    fractions_text = row.get("mass_fractions", "")
    i_text = row.get("i_value_ev", "")
    table = row.get("stopping_power_table", "") or None
    if table is not None and mcsquare_stopping_table_name(table) not in mcsquare_materials():
        raise InputError(path, f"line {line_no}: stopping_power_table {table!r} is not one braggdesk has; expected "
                               "mcsquare:<name> with a material of resources/materials/mcsquare_materials.csv")
    library = None
    if not fractions_text:
        try:
            library = get_material(name)
        except UnknownMaterialError as exc:
            raise InputError(path, f"line {line_no}: {exc}; or give its composition in the "
                                   "mass_fractions column") from None
    density = _number(path, line_no, density_text, "density_g_cm3") if density_text else None
    i_value = _number(path, line_no, i_text, "i_value_ev") if i_text else None
    if library is not None:
        changes = {k: v for k, v in (("density_g_cm3", density), ("i_value_ev", i_value),
                                     ("stopping_power_table", table)) if v is not None}
        return dataclasses.replace(library, **changes) if changes else library
    try:
        fractions = parse_mass_fractions(fractions_text)
    except ValueError as exc:
        raise InputError(path, f"line {line_no}: material {name}: {exc}") from None
    if density is None:
        try:
            density = get_material(name).density_g_cm3
        except UnknownMaterialError:
            raise InputError(path, f"line {line_no}: material {name} is defined inline but has no density_g_cm3 "
                                   "and is not in the library") from None
    return Material(name, density, fractions, i_value, table)


# ---------------------------------------------------------------------------------------------
# Writing


def write_calibration_csv(calibration: CtCalibration, path: str | Path) -> Path:
    """Write ``calibration`` in the braggdesk CSV format; returns the path written.

    Every material is written with its full inline composition, density and I-value, so a
    calibration with custom materials (a phantom's Solid Water HE, say) reads back equal
    with :func:`read_ct_calibration`.  Numbers are written exactly (Python ``repr``).
    """
    path = Path(path)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    buffer.write("# braggdesk CT calibration; format: braggdesk.io.ct_calibration (module docstring)\n")
    buffer.write("[calibration]\n")
    writer.writerow(["name", _one_line(calibration.name)])
    for note in calibration.notes:
        writer.writerow(["note", _one_line(note)])
    buffer.write("[density]\n")
    writer.writerow(["hu", "density_g_cm3"])
    for hu, rho in zip(calibration.density_hu, calibration.density_g_cm3):
        writer.writerow([repr(float(hu)), repr(float(rho))])
    buffer.write("[materials]\n")
    writer.writerow(_MATERIAL_COLUMNS)
    for hu, material in zip(calibration.material_hu_min, calibration.materials):
        writer.writerow([
            repr(float(hu)), material.name, repr(float(material.density_g_cm3)),
            format_mass_fractions(material.mass_fractions),
            "" if material.i_value_ev is None else repr(float(material.i_value_ev)),
            material.stopping_power_table or "",
        ])
    try:
        path.write_text(buffer.getvalue(), encoding="utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot write the calibration: {exc.strerror or exc}") from exc
    return path


def _one_line(text: str) -> str:
    """The reader works line by line, so line breaks in names and notes become spaces."""
    return " ".join(str(text).splitlines())
