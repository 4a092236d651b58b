"""Re-tabulate the ICRU 63 secondary-particle data of MCsquare as one small CSV for the engine.

Run once by hand; the engine reads only the CSV it writes
(``src/braggdesk/resources/physics/icru63_proton_nonelastic_secondaries_mcsquare.csv``).

Source: MCsquare ``Materials/<element>/ICRU_Nuclear_inelastic.dat`` (ICRU Report 63 evaluation,
Apache-2.0, K. Souris et al., Med. Phys. 43 (2016) 1700), as shipped in the PyPI wheel
``opentps-core`` 2.0.0 under ``opentps/core/processing/doseCalculation/protons/MCsquare/Materials``.

    pip download --no-deps opentps-core==2.0.0 -d /tmp/otps && cd /tmp/otps && unzip -q opentps_core-*.whl
    python tools/derive_icru63_secondaries.py /tmp/otps/opentps/core/processing/doseCalculation/protons/MCsquare/Materials

For every element and incident energy the files give the nonelastic cross section, the mean
multiplicity of secondary protons, deuterons and alphas, their angle-integrated emission spectra
dsigma/dE (41 points) and the energy fraction given to heavy recoils.  We keep, per row:

* the multiplicities as given;
* deuteron and alpha mean emission energies (spectrum-weighted means, MeV);
* the secondary-proton and deuteron emission spectra as 21 quantiles each (u = 0, 0.05, ..., 1)
  of their inverse cumulative distributions, the spectra taken piecewise linear between the
  tabulated points.

Quantiles interpolate well between incident energies and mix well between elements, which a
41-point spectrum per row would not (and they are 2x smaller).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

ELEMENTS = {"carbon": 6, "nitrogen": 7, "oxygen": 8, "aluminium": 13, "silicon": 14, "phosphorus": 15,
            "calcium": 20, "titanium": 22, "iron": 26, "copper": 29, "tantalum": 73, "tungsten": 74, "lead": 82}
N_QUANTILES = 20
OUT = Path(__file__).resolve().parents[1] / "src/braggdesk/resources/physics/icru63_proton_nonelastic_secondaries_mcsquare.csv"


def parse(path: Path) -> list[dict]:
    blocks: list[dict] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        t = lines[i].split("#")[0].split()
        if t and t[0] == "Energy":
            blocks.append({"E": float(t[1]), "species": {}})
        elif t and t[0] == "Multiplicity":
            blocks[-1]["species"].setdefault(t[1], {})["M"] = float(t[2])
        elif t and t[0] == "Differential_cross_section":
            rows = []
            j = i + 1
            while len(rows) < int(t[2]):
                u = lines[j].split("#")[0].split()
                if u:
                    rows.append((float(u[0]), float(u[1])))
                j += 1
            blocks[-1]["species"][t[1]]["spectrum"] = np.array(rows)
            i = j - 1
        i += 1
    return blocks


def cumulative(spectrum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e, y = spectrum[:, 0], np.maximum(spectrum[:, 1], 0.0)
    c = np.concatenate([[0.0], np.cumsum(0.5 * (y[1:] + y[:-1]) * np.diff(e))])
    return e, c


def quantiles(spectrum: np.ndarray) -> np.ndarray:
    e, c = cumulative(spectrum)
    if c[-1] <= 0:
        return np.zeros(N_QUANTILES + 1)
    u = np.linspace(0.0, 1.0, N_QUANTILES + 1) * c[-1]
    keep = np.concatenate([[True], np.diff(c) > 0])  # strictly increasing for the inverse
    q = np.interp(u, c[keep], e[keep])
    q[0] = e[keep][0] if c[1] > 0 else e[np.argmax(c > 0) - 1]
    return q


def mean_energy(spectrum: np.ndarray) -> float:
    e, y = spectrum[:, 0], np.maximum(spectrum[:, 1], 0.0)
    n = np.trapezoid(y, e)
    return float(np.trapezoid(y * e, e) / n) if n > 0 else 0.0


def main(materials_dir: str) -> None:
    header = ["element", "Z", "kinetic_energy_MeV", "proton_multiplicity", "deuteron_multiplicity",
              "deuteron_mean_energy_MeV", "alpha_multiplicity", "alpha_mean_energy_MeV"]
    header += [f"proton_energy_quantile_{k:02d}_MeV" for k in range(N_QUANTILES + 1)]
    header += [f"deuteron_energy_quantile_{k:02d}_MeV" for k in range(N_QUANTILES + 1)]
    with open(OUT, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for name, z in ELEMENTS.items():
            for b in parse(Path(materials_dir) / name / "ICRU_Nuclear_inelastic.dat"):
                sp = b["species"]
                row: list = [name, z, f"{b['E']:g}"]
                for s in ("proton", "deuteron", "alpha"):
                    d = sp.get(s)
                    m = d["M"] if d and "spectrum" in d else 0.0
                    row.append(f"{m:.6g}")
                    if s != "proton":
                        row.append(f"{mean_energy(d['spectrum']):.4g}" if m > 0 else "0")
                for s in ("proton", "deuteron"):
                    d = sp.get(s)
                    q = quantiles(d["spectrum"]) if d and "spectrum" in d and d["M"] > 0 else np.zeros(N_QUANTILES + 1)
                    row += [f"{v:.4g}" for v in q]
                w.writerow(row)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
