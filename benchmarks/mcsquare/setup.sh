#!/usr/bin/env bash
# Make a Python 3.12 virtual environment with OpenTPS (opentps-core 3.0.1), which ships the MCsquare binaries,
# OUTSIDE the braggdesk repository, complete it with the data files 3.0.1 lacks, and check that MCsquare runs.
#
#   bash benchmarks/mcsquare/setup.sh [VENV]          (default VENV: $MCSQUARE_VENV or /work/mcsquare-venv)
#
# Environment: PYTHON312 = a Python 3.12 interpreter (default: ~/.pyenv/versions/3.12.1/bin/python, else
# python3.12 on PATH).  Nothing of MCsquare or OpenTPS is written into the repository.
#
# What 3.0.1 lacks (found by comparing its wheel with opentps-core 2.0.0's): opentps/core/data/MCsquare/
# ConfigTemplate.txt (without it OpenTPS cannot write MCsquare's config file), the scanner
# Scanners/UCL_Toshiba/HU_*_Conversion.txt, the BDL examples BDL/BDL_default_*_RangeShifter.txt and a few
# material read-me files.  They are copied from the 2.0.0 wheel (pip download, --ignore-requires-python since
# 2.0.0 declares an older Python); files 3.0.1 already has are never overwritten.  3.0.1 also installs the
# MCsquare binaries without the executable bit (OpenTPS's 'sh MCsquare' then fails with "Permission denied"):
# chmod +x fixes that.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${1:-${MCSQUARE_VENV:-/work/mcsquare-venv}}"
PY312="${PYTHON312:-$HOME/.pyenv/versions/3.12.1/bin/python}"
if [ ! -x "$PY312" ]; then PY312="$(command -v python3.12 || true)"; fi
if [ -z "$PY312" ] || ! "$PY312" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
    echo "setup.sh: no Python 3.12 found (set PYTHON312=/path/to/python3.12); opentps-core 3.0.1 needs >=3.12,<3.13" >&2
    exit 1
fi
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
case "$(cd "$(dirname "$VENV")" 2>/dev/null && pwd)/" in
    "$REPO_ROOT"/*) echo "setup.sh: $VENV is inside the repository; put the MCsquare venv outside it" >&2; exit 1;;
esac

echo "== venv $VENV (Python: $PY312)"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY312" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -m pip install -q "opentps-core==3.0.1" matplotlib 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -c 'import importlib.metadata as m; v = m.version("opentps-core"); assert v == "3.0.1", v; print("opentps-core", v)'

SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
MCSQ="$SITE/opentps/core/processing/doseCalculation/protons/MCsquare"
[ -d "$MCSQ" ] || { echo "setup.sh: $MCSQ not found after install" >&2; exit 1; }

echo "== files missing from 3.0.1, taken from the opentps-core 2.0.0 wheel"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
"$VENV/bin/python" -m pip download -q --no-deps --ignore-requires-python "opentps-core==2.0.0" -d "$TMP" 2>&1 \
    | grep -v "^WARNING: Location" || true
WHEEL="$(ls "$TMP"/opentps_core-2.0.0-*.whl)"
"$VENV/bin/python" - "$WHEEL" "$SITE" <<'EOF'
import sys, zipfile, pathlib
wheel, site = sys.argv[1], pathlib.Path(sys.argv[2])
prefixes = ("opentps/core/data/MCsquare/", "opentps/core/processing/doseCalculation/protons/MCsquare/")
copied = []
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if not name.startswith(prefixes) or name.endswith("/") or name.endswith(".py"):
            continue
        target = site / name
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(z.read(name))
        copied.append(name)
for name in copied:
    print("  copied", name)
print(f"  {len(copied)} file(s) copied")
need = ["opentps/core/data/MCsquare/ConfigTemplate.txt",
        "opentps/core/processing/doseCalculation/protons/MCsquare/Scanners/UCL_Toshiba/HU_Density_Conversion.txt",
        "opentps/core/processing/doseCalculation/protons/MCsquare/Scanners/UCL_Toshiba/HU_Material_Conversion.txt"]
missing = [n for n in need if not (site / n).exists()]
if missing:
    sys.exit("still missing: " + ", ".join(missing))
EOF

echo "== executable bits on the MCsquare binaries"
chmod +x "$MCSQ"/MCsquare "$MCSQ"/MCsquare_linux* "$MCSQ"/MCsquare_opti "$MCSQ"/MCsquare_opti_linux*

echo "== MCsquare self-test (small water box, one spot, through OpenTPS)"
"$VENV/bin/python" "$HERE/run_mcsquare.py" --self-test

echo "== done: MCsquare venv $VENV"
echo "   scanner UCL_Toshiba: $MCSQ/Scanners/UCL_Toshiba"
