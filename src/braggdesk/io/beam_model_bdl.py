"""MCsquare BDL beam-model files, read and written.

**MCsquare BDL** ("UPenn" format, MCsquare ``BDL/*.txt``)::

    --UPenn beam model (double gaussian)--
    # comments start with '#'
    Nozzle exit to Isocenter distance
    600.0
    SMX to Isocenter distance
    2000.0
    SMY to Isocenter distance
    2560.0
    Range Shifter parameters        (optional; one block per range shifter)
    RS_ID = RS_3CM
    RS_type = binary
    RS_material = 66                (MCsquare material label)
    RS_density = 1.2
    RS_WET = 34.3
    Beam parameters
    175 energies

    NominalEnergy MeanEnergy EnergySpread ProtonsMU Weight1 SpotSize1x Divergence1x Correlation1x SpotSize1y Divergence1y Correlation1y Weight2 SpotSize2x Divergence2x Correlation2x SpotSize2y Divergence2y Correlation2y
    100.0 100.533 0.711552 95212461.7 0.97 7.833829 0.003448 0.261945 7.192081 0.005593 0.532799 0.03 31.288536 0.024913 0.306130 31.039607 0.019972 0.364533

The optics are given at the nozzle exit, so ``reference_plane_to_isocenter_mm`` is the nozzle
exit distance; SMX/SMY become ``virtual_source_axis_distance_mm``.  ``EnergySpread`` is read
as percent of the mean energy and converted to MeV (MCsquare's ``Sample_particle`` takes the
percent of the nominal energy, up to 2 % less spread in the DCPT models).  Units, as MCsquare
samples them (``Sample_particle`` in MCsquare's ``compute_beam_model.c``): SpotSize is 1 sigma in mm,
Divergence 1 sigma in rad, Correlation the dimensionless coefficient rho of the (x, x')
covariance [[SpotSize^2, rho SpotSize Divergence], [rho SpotSize Divergence, Divergence^2]]:
braggdesk's own units, so the numbers are taken as they are.

Columns are found by their header name, in any order (MCsquare itself reads them by position,
in the order above).  Weight1 and Weight2 are relative weights of two Gaussians at the same
plane around the same central ray: MCsquare interpolates both between energies and puts a
proton in the second Gaussian with probability Weight2 / (Weight1 + Weight2), so they need not
sum to 1.  braggdesk stores that fraction per row as ``BeamModel.weight2`` and interpolates the
fraction, which is the same wherever Weight1 + Weight2 is the same at neighbouring rows (1 in
every MCsquare example).  Rows with Weight2 = 0 keep their second-Gaussian values (MCsquare's
``BDL_matrad.txt`` fills them in), so interpolation towards a row with a halo matches
MCsquare's.  A table without a Weight2 column is single Gaussian; one with Weight2 needs
Weight1 and the six second-Gaussian columns.  Negative weights, Weight1 + Weight2 = 0, sizes
or divergences below 0, a second Gaussian with weight but no size, and |correlation| >= 1 are
refused with the line and the column.

Range shifters: the material (``RS_material`` label, or braggdesk's ``RS_material_name``) is
resolved through the material library into ``RangeShifter.composition`` (an ``RS_material`` label
is MCsquare's own material, with MCsquare's stopping powers), with ``RS_density`` as its density
when given.  MCsquare gives only a water-equivalent thickness; the physical thickness is then
``RS_WET / relative stopping power`` (:func:`~braggdesk.physics.material_constants.material_physics`; the WET
itself is kept and is what the engine uses for energy loss).  braggdesk adds optional keys, written after MCsquare's own so that
MCsquare ignores them: ``RS_thickness`` [mm, physical, at RS_density], ``RS_isocenter_distance``
[mm, slab centre upstream of the isocentre] and ``RS_material_name`` (written unless the material
is MCsquare's own of that label).  Without
``RS_isocenter_distance`` the slab's downstream face is put at the nozzle exit; a plan's
IsocenterToRangeShifterDistance should be preferred when there is one.

:func:`write_bdl` writes the BDL format MCsquare reads (18 columns in MCsquare's order, and the
blank line MCsquare expects between "N energies" and the header).  All readers raise
:class:`~braggdesk.errors.InputError` with the file and line.

:func:`write_bdl` writes the BDL format MCsquare reads (18 columns in MCsquare's order, and the
blank line MCsquare expects between "N energies" and the header).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from braggdesk.errors import InputError
from braggdesk.model.beam_model import BeamModel, RangeShifter
from braggdesk.physics.library import UnknownMaterialError, get_material, material_by_mcsquare_label, mcsquare_label_of
from braggdesk.physics.material_constants import material_physics

from .beam_model_checks import check_energies, model_errors_as_input_errors, read_lines
from .beam_model_checks import number as _number

_BDL_FIRST_LINE = "--UPenn beam model (double gaussian)--"
_BDL_COLUMNS = [
    "NominalEnergy", "MeanEnergy", "EnergySpread", "ProtonsMU", "Weight1", "SpotSize1x", "Divergence1x",
    "Correlation1x", "SpotSize1y", "Divergence1y", "Correlation1y", "Weight2", "SpotSize2x", "Divergence2x",
    "Correlation2x", "SpotSize2y", "Divergence2y", "Correlation2y",
]
_BDL_REQUIRED = [c for c in _BDL_COLUMNS if not c.startswith("Weight") and "2" not in c]
_BDL_TO_MODEL = {
    "NominalEnergy": "nominal_energy_mev", "MeanEnergy": "mean_energy_mev", "ProtonsMU": "protons_per_mu",
    "SpotSize1x": "sigma_x_mm", "Divergence1x": "divergence_x_rad", "Correlation1x": "correlation_x",
    "SpotSize1y": "sigma_y_mm", "Divergence1y": "divergence_y_rad", "Correlation1y": "correlation_y",
}
_BDL_SECOND_TO_MODEL = {
    "SpotSize2x": "sigma_x2_mm", "Divergence2x": "divergence_x2_rad", "Correlation2x": "correlation_x2",
    "SpotSize2y": "sigma_y2_mm", "Divergence2y": "divergence_y2_rad", "Correlation2y": "correlation_y2",
}
#: BDL column names of model fields, for messages: the user reads the file's names
_BDL_LABELS = {field: column for column, field in (_BDL_TO_MODEL | _BDL_SECOND_TO_MODEL).items()} | {
    "weight2": "Weight2 / (Weight1 + Weight2)"}
_NAME_COMMENT = "braggdesk beam model:"


def read_bdl(path: str | Path) -> BeamModel:
    """Read an MCsquare BDL (UPenn format), single- or double-Gaussian spots (module docstring)."""
    path = Path(path)
    lines = read_lines(path)
    numbered = [(i + 1, line.strip()) for i, line in enumerate(lines)]
    name = path.stem
    for _, line in numbered:
        if line.startswith("#") and _NAME_COMMENT in line:
            name = line.split(_NAME_COMMENT, 1)[1].strip() or name
            break
    content = [(n, line) for n, line in numbered if line and not line.startswith("#")]

    distances: dict[str, float] = {}
    shifter_blocks: list[tuple[int, dict[str, tuple[int, str]]]] = []
    table: tuple[int, int, list[str], list[tuple[int, list[str]]]] | None = None
    i = 0
    while i < len(content):
        line_no, line = content[i]
        key = line.lower()
        if key in ("nozzle exit to isocenter distance", "smx to isocenter distance", "smy to isocenter distance"):
            if i + 1 >= len(content):
                raise InputError(path, f"line {line_no}: '{line}' is not followed by a value")
            value_line_no, value_line = content[i + 1]
            distances[key.split()[0]] = _number(path, value_line_no, value_line.split()[0], line)
            i += 2
        elif key == "range shifter parameters":
            block: dict[str, tuple[int, str]] = {}
            i += 1
            while i < len(content) and "=" in content[i][1]:
                entry_no, entry = content[i]
                k, _, v = entry.partition("=")
                block[k.strip()] = (entry_no, v.split("#")[0].strip())
                i += 1
            shifter_blocks.append((line_no, block))
        elif key == "beam parameters":
            table, i = _read_bdl_table(path, content, i)
        else:
            i += 1

    for key, label in (("nozzle", "Nozzle exit to Isocenter distance"), ("smx", "SMX to Isocenter distance"),
                       ("smy", "SMY to Isocenter distance")):
        if key not in distances:
            raise InputError(path, f"no '{label}' line; an MCsquare BDL needs it")
    if table is None:
        raise InputError(path, "no 'Beam parameters' section with the energy table")
    columns, line_of_row = _bdl_columns(path, table)
    if np.any(columns["MeanEnergy"] <= 0):
        raise InputError(path, "a MeanEnergy is not positive")
    check_energies(path, columns["NominalEnergy"])
    nozzle = distances["nozzle"]
    shifters = {}
    for block_line, block in shifter_blocks:
        shifter = _range_shifter(path, block_line, block, nozzle, len(shifters) + 1)
        if shifter is not None:
            shifters[shifter.identifier] = shifter
    with model_errors_as_input_errors(path, columns["NominalEnergy"], line_of_row, _BDL_LABELS):
        return BeamModel(
            name=name,
            energy_spread_mev=columns["EnergySpread"] / 100.0 * columns["MeanEnergy"],
            **{field: columns[column] for column, field in _BDL_TO_MODEL.items()},
            **_bdl_second_gaussian(path, columns, line_of_row),
            reference_plane_to_isocenter_mm=nozzle,
            virtual_source_axis_distance_mm=(distances["smx"], distances["smy"]),
            range_shifters=shifters,
            source_path=str(path),
        )


def _read_bdl_table(path: Path, content: list[tuple[int, str]], i: int):
    """Parse 'Beam parameters', 'N energies', the header and N rows starting at content[i]."""
    line_no, _ = content[i]
    if i + 1 >= len(content):
        raise InputError(path, f"line {line_no}: 'Beam parameters' is not followed by 'N energies'")
    count_no, count_line = content[i + 1]
    match = re.fullmatch(r"(\d+)\s+energies", count_line, flags=re.IGNORECASE)
    if not match or int(match.group(1)) == 0:
        raise InputError(path, f"line {count_no}: found '{count_line}', expected '<N> energies' with N > 0")
    count = int(match.group(1))
    if i + 2 >= len(content):
        raise InputError(path, f"line {count_no}: no column header line after '{count_line}'")
    header_no, header_line = content[i + 2]
    header = header_line.split()
    rows = content[i + 3:i + 3 + count]
    if len(rows) < count:
        raise InputError(path, f"line {count_no}: says {count} energies, but only {len(rows)} rows follow")
    return (header_no, count, header, [(n, r.split()) for n, r in rows]), i + 3 + count


def _bdl_columns(path: Path, table) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The energy table by column name (any column order), and the file line of each row."""
    header_no, _, header, rows = table
    missing = [c for c in _BDL_REQUIRED if c not in header]
    if "Weight2" in header:
        missing += [c for c in ["Weight1", *_BDL_SECOND_TO_MODEL] if c not in header]
    if missing:
        raise InputError(path, f"line {header_no}: the energy table lacks column(s) {', '.join(missing)}; "
                               f"found {' '.join(header)}")
    values: dict[str, list[float]] = {c: [] for c in header}
    for line_no, fields in rows:
        if len(fields) != len(header):
            raise InputError(path, f"line {line_no}: {len(fields)} values for {len(header)} columns")
        for column, text in zip(header, fields):
            values[column].append(_number(path, line_no, text, column))
    return {c: np.array(v) for c, v in values.items()}, np.array([line_no for line_no, _ in rows])


def _bdl_second_gaussian(path: Path, columns: dict[str, np.ndarray], line_of_row: np.ndarray) -> dict[str, np.ndarray]:
    """The second Gaussian's model columns, its weight as a fraction of the spot's protons.

    MCsquare reads Weight1 and Weight2 as relative weights (it samples the second Gaussian
    with probability Weight2 / (Weight1 + Weight2), after interpolating both), so they need
    not sum to 1; the model keeps the normalised fraction per row.  A table without Weight2
    is a single Gaussian; its second-Gaussian fields are left to the model's zeros.
    """
    if "Weight2" not in columns:
        return {}
    weight1, weight2 = columns["Weight1"], columns["Weight2"]
    for label, weight in (("Weight1", weight1), ("Weight2", weight2)):
        if np.any(weight < 0):
            k = int(np.argmax(weight < 0))
            raise InputError(path, f"line {line_of_row[k]}: {label} = {weight[k]:g} is negative")
    total = weight1 + weight2
    if np.any(total <= 0):
        k = int(np.argmax(total <= 0))
        raise InputError(path, f"line {line_of_row[k]}: Weight1 + Weight2 = 0; the spot has no protons to share")
    second = {field: columns[column] for column, field in _BDL_SECOND_TO_MODEL.items()}
    return {"weight2": weight2 / total, **second}


def _range_shifter(path: Path, block_line: int, block: dict[str, tuple[int, str]], nozzle_mm: float,
                   index: int) -> RangeShifter | None:
    def number(key: str) -> float | None:
        if key not in block:
            return None
        line_no, text = block[key]
        return _number(path, line_no, text, key)

    rs_type = block.get("RS_type", (block_line, "binary"))[1].lower()
    if rs_type == "none":
        return None
    if rs_type not in ("binary", "analog"):
        raise InputError(path, f"line {block['RS_type'][0]}: RS_type '{rs_type}', expected binary, analog or none")
    identifier = block["RS_ID"][1] if "RS_ID" in block else f"RS_{index}"
    if "RS_material_name" in block:
        line_no, text = block["RS_material_name"]
        try:
            material = get_material(text)
        except UnknownMaterialError as exc:
            raise InputError(path, f"line {line_no}: range shifter {identifier}: {exc}") from None
    elif "RS_material" in block:
        line_no, text = block["RS_material"]
        try:
            material = material_by_mcsquare_label(int(text))
        except (ValueError, UnknownMaterialError):
            raise InputError(path, f"line {line_no}: RS_material '{text}' is not an MCsquare material label "
                                   "(see resources/materials/mcsquare_materials.csv)") from None
    else:
        raise InputError(path, f"line {block_line}: range shifter {identifier} has no RS_material")
    density = number("RS_density")
    if density is not None and density != material.density_g_cm3:
        if density <= 0:
            raise InputError(path, f"line {block['RS_density'][0]}: RS_density {density:g} g/cm3 is not positive")
        material = dataclasses.replace(material, density_g_cm3=density)
    wet = number("RS_WET")
    thickness = number("RS_thickness")
    if thickness is None:
        if wet is None:
            raise InputError(path, f"line {block_line}: range shifter {identifier} has neither RS_WET nor RS_thickness")
        thickness = wet / material_physics(material).relative_stopping_power
    if thickness <= 0:
        raise InputError(path, f"line {block_line}: range shifter {identifier} thickness {thickness:g} mm "
                               "is not positive")
    distance = number("RS_isocenter_distance")
    if distance is None:
        distance = nozzle_mm + thickness / 2.0
    return RangeShifter(identifier=identifier, material=material.name, thickness_mm=thickness,
                        isocenter_distance_mm=distance, water_equivalent_thickness_mm=wet, composition=material)


def write_bdl(model: BeamModel, path: str | Path, comments: list[str] | tuple[str, ...] = ()) -> Path:
    """Write ``model`` as an MCsquare BDL (UPenn format) that :func:`read_bdl` reads back equal.

    The nozzle exit distance is the model's reference plane distance; SMX/SMY its virtual
    source-axis distances; the energy spread is written in percent of the mean energy; the
    weights as Weight1 = 1 - weight2 and Weight2 = weight2, in MCsquare's column order
    (MCsquare reads the 18 columns by position); a single-Gaussian model gets Weight2 = 0.
    ``comments`` are written as '#' lines under the title.
    """
    path = Path(path)
    out = [_BDL_FIRST_LINE, f"# {_NAME_COMMENT} {model.name}"]
    out += [f"# {c}" for text in comments for c in str(text).splitlines()]
    out += ["", "Nozzle exit to Isocenter distance", repr(float(model.reference_plane_to_isocenter_mm)), "",
            "SMX to Isocenter distance", repr(float(model.virtual_source_axis_distance_mm[0])), "",
            "SMY to Isocenter distance", repr(float(model.virtual_source_axis_distance_mm[1])), ""]
    for shifter in model.range_shifters.values():
        try:  # a BDL names materials, so the material must be one the library knows
            library_material = get_material(shifter.material)
        except UnknownMaterialError as exc:
            raise InputError(path, f"range shifter {shifter.identifier}: {exc}; a BDL can only name "
                                   "library materials") from None
        material = shifter.composition or library_material
        if material.name != shifter.material:
            raise InputError(path, f"range shifter {shifter.identifier}: material '{shifter.material}' but "
                                   f"composition '{material.name}'; expected the same name")
        label = mcsquare_label_of(material.name)
        out += ["Range Shifter parameters", f"RS_ID = {shifter.identifier}", "RS_type = binary"]
        if label is not None:
            out.append(f"RS_material = {label}")
        out.append(f"RS_density = {float(material.density_g_cm3)!r}")
        if shifter.water_equivalent_thickness_mm is not None:
            out.append(f"RS_WET = {float(shifter.water_equivalent_thickness_mm)!r}")
        out += [f"RS_thickness = {float(shifter.thickness_mm)!r}",
                f"RS_isocenter_distance = {float(shifter.isocenter_distance_mm)!r}"]
        if label is None or material.stopping_power_table != f"mcsquare:{material.name}":
            out.append(f"RS_material_name = {material.name}")  # ours (e.g. our PMMA), not MCsquare's of that label
        out.append("")
    out += ["Beam parameters", f"{len(model.nominal_energy_mev)} energies", "", " ".join(_BDL_COLUMNS)]
    for k in range(len(model.nominal_energy_mev)):
        mean = float(model.mean_energy_mev[k])
        first = [model.sigma_x_mm[k], model.divergence_x_rad[k], model.correlation_x[k],
                 model.sigma_y_mm[k], model.divergence_y_rad[k], model.correlation_y[k]]
        second = [model.sigma_x2_mm[k], model.divergence_x2_rad[k], model.correlation_x2[k],
                  model.sigma_y2_mm[k], model.divergence_y2_rad[k], model.correlation_y2[k]]
        weight2 = float(model.weight2[k])
        row = [model.nominal_energy_mev[k], mean, float(model.energy_spread_mev[k]) / mean * 100.0,
               model.protons_per_mu[k], 1.0 - weight2, *first, weight2, *second]
        out.append(" ".join(repr(float(v)) for v in row))
    try:
        path.write_text("\n".join(out) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot write the beam model: {exc.strerror or exc}") from exc
    return path
