"""Re-tabulate the proton stopping powers MCsquare transports with, for its 82 materials, as one CSV.

Run once by hand; braggdesk reads only the CSV it writes
(``src/braggdesk/resources/physics/mcsquare_g4_stopping_power.csv``).

Why: a user's MCsquare scanner folder (``HU_Density_Conversion.txt``, ``HU_Material_Conversion.txt``)
names MCsquare materials by label but does not carry MCsquare's ``Materials/`` folder, and MCsquare
does not re-derive stopping powers from composition: it reads ``Materials/<name>/G4_Stop_Pow.dat``
(``DB_STOP_POW SP_GEANT4`` in MCsquare's ``src/include/define.h``; ``data_Stop_Pow.c``) and its
relative stopping power is the ratio to ``Materials/Water`` at 100 MeV (``data_materials.c``).  To give
MCsquare's ranges for MCsquare's calibration, braggdesk needs those tables.

Source: MCsquare ``Materials/*/G4_Stop_Pow.dat`` and ``Materials/list.dat`` (Apache-2.0, UCLouvain;
K. Souris et al., Med. Phys. 43 (2016) 1700), as shipped in the PyPI wheel ``opentps-core`` 2.0.0
under ``opentps/core/processing/doseCalculation/protons/MCsquare/Materials``::

    pip download --no-deps opentps-core==2.0.0 -d /tmp/otps && cd /tmp/otps && unzip -q opentps_core-*.whl
    python tools/tabulate_mcsquare_stopping_powers.py /tmp/otps/opentps/core/processing/doseCalculation/protons/MCsquare/Materials

The files give the total mass stopping power [MeV cm^2/g] every 0.5 MeV from 0 to 400 MeV.  We keep
the rows at ``ENERGIES_MEV`` (0.5 MeV apart below 10 MeV, 1 MeV below 30, 2 MeV below 100, 5 MeV above; copied digit for
digit, not refitted), 135 of MCsquare's 801.  The ratio to water interpolated linearly in ln(E) between them
stays within 1.6e-3 of the full table above 1 MeV for the compounds and within 4.3e-3 for the elements,
whose Geant4 tables have small steps (titanium drops 0.26 % between 61 and 61.5 MeV); both are printed
below.  The 100 MeV row, where MCsquare takes its ratio, is kept.  A cell is empty where MCsquare's file has no
row (``Brass_CuZn39Pb3`` ends at 249.5 MeV).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ENERGIES_MEV = [0.5 * i for i in range(1, 20)] + list(range(10, 30)) + list(range(30, 100, 2)) + list(range(100, 401, 5))
OUT = Path(__file__).resolve().parents[1] / "src/braggdesk/resources/physics/mcsquare_g4_stopping_power.csv"
HEADER = """\
# MCsquare's proton total mass stopping powers [MeV cm2/g], one column per MCsquare material (Materials/list.dat names),
# rows at the kinetic energies in the first column (a subset of MCsquare's 0.5 MeV grid; numbers copied unchanged).
# Source: MCsquare Materials/<name>/G4_Stop_Pow.dat (Geant4-computed; what MCsquare transports with), PyPI opentps-core 2.0.0.
# Licence: Apache-2.0. Each use must be attributed to Universite catholique de Louvain (UCLouvain).
# Cite: K. Souris, J.A. Lee, E. Sterpin, Med. Phys. 43 (2016) 1700. Written by tools/tabulate_mcsquare_stopping_powers.py.
"""


def _names(materials: Path) -> list[str]:
    names = []
    for line in (materials / "list.dat").read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[0].isdigit():
            names.append(fields[1])
    return names


def main(materials: Path) -> None:
    names = _names(materials)
    columns: dict[str, list[str]] = {}
    full: dict[str, np.ndarray] = {}
    for name in names:
        rows = [line.split() for line in (materials / name / "G4_Stop_Pow.dat").read_text().splitlines() if line.strip()]
        table = {float(e): s for e, s in rows}
        full[name] = np.array([[float(e), float(s)] for e, s in rows])
        columns[name] = [table.get(e, "") for e in ENERGIES_MEV]  # Brass_CuZn39Pb3 stops at 249.5 MeV
    lines = [HEADER.rstrip("\n"), ",".join(["kinetic_energy_MeV"] + names)]
    for i, e in enumerate(ENERGIES_MEV):
        lines.append(",".join([f"{e:g}"] + [columns[n][i] for n in names]))
    OUT.write_text("\n".join(lines) + "\n")

    # check: the ratio to water interpolated in ln(E) between the kept rows against every row of the full table
    water = full["Water"]
    kept = np.array(ENERGIES_MEV, dtype=float)
    worst = {"elements": 0.0, "compounds": 0.0}
    for name in names:
        e, s = full[name][:, 0], full[name][:, 1]
        sel = e >= 1.0
        ratio_full = s[sel] / np.interp(e[sel], water[:, 0], water[:, 1])
        have = np.array([v != "" for v in columns[name]])
        ratio_kept = (np.array([float(v) for v in columns[name] if v])
                      / np.array([float(w) for v, w in zip(columns[name], columns["Water"]) if v]))
        approx = np.interp(np.log(e[sel]), np.log(kept[have]), ratio_kept)
        kind = "elements" if name.islower() else "compounds"
        worst[kind] = max(worst[kind], float(np.max(np.abs(approx / ratio_full - 1))))
    print(f"wrote {OUT} ({len(names)} materials x {len(ENERGIES_MEV)} energies); worst relative error of the "
          f"interpolated ratio above 1 MeV: elements {worst['elements']:.1e}, compounds {worst['compounds']:.1e}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
