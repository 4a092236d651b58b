#!/usr/bin/env bash
# Build the braggdesk desktop bundle (PyInstaller, one folder, Linux) from a clean virtual
# environment, then smoke-test a copy of it in a temporary folder with no access to the source.
#
#   packaging/build.sh                  -> dist/braggdesk/ (run dist/braggdesk/braggdesk)
#
# Steps: a fresh venv; `python -m build` makes the sdist and, from it, the wheel; the wheel is
# installed with the extras (not the source tree, so the bundle holds what the wheel holds) plus
# PyInstaller; PyInstaller runs packaging/braggdesk.spec; the bundle gets the desktop entry and
# its installer; then a copy of the bundle runs `--version`, `--help` of every subcommand,
# `demo`, and the GUI with a screenshot when the bundle has a `gui` command and xvfb-run exists.
#
# Environment:
#   PYTHON                      interpreter for the venv (default python3)
#   BRAGGDESK_BUNDLE_EXTRAS     extras to bundle (default gui,remote,cluster; add gpu for CuPy)
#   BRAGGDESK_BUILD_DIR         work folder: venv, sdist/wheel, PyInstaller work (default build/bundle)
#   BRAGGDESK_DIST_DIR          where the bundle folder goes (default dist; the bundle is DIST/braggdesk)
#   BRAGGDESK_REUSE_VENV=1      keep an existing venv from an earlier run (faster; not a clean build)
#   BRAGGDESK_SMOKE_PRIMARIES   primaries of the smoke-test demo (default 20000)
# Figures (build time, bundle size, start-up times) are printed and written to
# BUILD_DIR/bundle-report.txt as key=value lines.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
extras="${BRAGGDESK_BUNDLE_EXTRAS:-gui,remote,cluster}"
build_dir="$(mkdir -p "${BRAGGDESK_BUILD_DIR:-${repo}/build/bundle}" && cd "${BRAGGDESK_BUILD_DIR:-${repo}/build/bundle}" && pwd)"
dist_dir="$(mkdir -p "${BRAGGDESK_DIST_DIR:-${repo}/dist}" && cd "${BRAGGDESK_DIST_DIR:-${repo}/dist}" && pwd)"
primaries="${BRAGGDESK_SMOKE_PRIMARIES:-20000}"
venv="${build_dir}/venv"
report="${build_dir}/bundle-report.txt"
bundle="${dist_dir}/braggdesk"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1

t0=$(date +%s.%N)
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(date +%s.%N)"; }
say() { echo "::: $*"; }
: > "${report}"
record() { echo "$1=$2" >> "${report}"; say "$1 = $2"; }

# 1. a clean virtual environment
if [ "${BRAGGDESK_REUSE_VENV:-0}" = "1" ] && [ -x "${venv}/bin/python" ]; then
  say "reusing ${venv}"
else
  rm -rf "${venv}"
  "${python}" -m venv "${venv}"
fi
vpy="${venv}/bin/python"
"${vpy}" -m pip install -q --upgrade pip build

# 2. sdist, then the wheel built from the sdist (checks the sdist is complete)
rm -rf "${build_dir}/dist"
"${vpy}" -m build --outdir "${build_dir}/dist" "${repo}" > "${build_dir}/python-build.log" 2>&1 \
  || { tail -30 "${build_dir}/python-build.log" >&2; exit 1; }
wheel="$(ls "${build_dir}"/dist/braggdesk-*.whl)"
say "built $(basename "${wheel}") and $(basename "$(ls "${build_dir}"/dist/braggdesk-*.tar.gz)")"

# 3. braggdesk from the wheel, with its extras, and PyInstaller
"${vpy}" -m pip install -q --force-reinstall --no-deps "${wheel}"
"${vpy}" -m pip install -q "${wheel}[${extras},bundle]"
installed_at="$(cd "${build_dir}" && "${vpy}" -c 'import braggdesk, os; print(os.path.dirname(braggdesk.__file__))')"
case "${installed_at}" in
  "${venv}"/*) ;;
  *) echo "build.sh: braggdesk imports from ${installed_at}, not from the build venv" >&2; exit 1 ;;
esac
version="$(cd "${build_dir}" && "${vpy}" -c 'import braggdesk; print(braggdesk.__version__)')"
t_env=$(elapsed "${t0}")

# 4. PyInstaller, from the build folder (the source tree is not on its path)
t1=$(date +%s.%N)
(cd "${build_dir}" && "${venv}/bin/pyinstaller" --noconfirm --clean --log-level WARN \
   --distpath "${dist_dir}" --workpath "${build_dir}/pyinstaller" "${repo}/packaging/braggdesk.spec")
install -m 644 "${repo}/packaging/braggdesk.desktop" "${bundle}/braggdesk.desktop"
install -m 755 "${repo}/packaging/install-desktop-entry.sh" "${bundle}/install-desktop-entry.sh"
t_pyinstaller=$(elapsed "${t1}")
t_build=$(elapsed "${t0}")
record version "${version}"
record extras "${extras}"
record venv_and_wheel_s "${t_env}"
record pyinstaller_s "${t_pyinstaller}"
record build_s "${t_build}"
record bundle_size "$(du -sh "${bundle}" | cut -f1)"
record bundle_bytes "$(du -sb "${bundle}" | cut -f1)"

# What the GUI and the runners load by name at run time must be in the folder, even before a
# `gui` command exists to exercise it: Qt's platform plugins (xcb for a desktop, offscreen for
# screenshots), VTK's OpenGL rendering back-ends, and the Python modules in the bundle's archive.
if [[ ",${extras}," == *",gui,"* ]]; then
  for pattern in "PySide6/Qt/plugins/platforms/libqxcb.so" "PySide6/Qt/plugins/platforms/libqoffscreen.so" \
                 "PySide6/Qt/lib/libQt6OpenGLWidgets.so.6" "PySide6/QtSvg.*.so" \
                 "vtkmodules/vtkRenderingOpenGL2.*.so" "vtkmodules/vtkRenderingVolumeOpenGL2.*.so" \
                 "vtkmodules/vtkInteractionStyle.*.so" "braggdesk/resources/icons/braggdesk.svg"; do
    compgen -G "${bundle}/_internal/${pattern}" > /dev/null \
      || { echo "build.sh: the bundle lacks _internal/${pattern}" >&2; exit 1; }
  done
fi
modules="$("${venv}/bin/pyi-archive_viewer" -r -b "${bundle}/braggdesk" 2>/dev/null | sed 's/^ *//')"
wanted=(braggdesk.cli.demo braggdesk.compute.local braggdesk.io.rtdose)
[[ ",${extras}," == *",gui,"* ]] && wanted+=(pyqtgraph.graphicsItems.ImageItem vtkmodules.qt.QVTKRenderWindowInteractor superqt.utils._qthreading)
[[ ",${extras}," == *",remote,"* ]] && wanted+=(asyncssh.connection)
[[ ",${extras}," == *",cluster,"* ]] && wanted+=(distributed.deploy.local)
[[ ",${extras}," == *",gpu,"* ]] && wanted+=(cupy)
for module in "${wanted[@]}"; do
  grep -qx "${module}" <<< "${modules}" || { echo "build.sh: the bundle lacks the module ${module}" >&2; exit 1; }
done
record python_modules "$(wc -l <<< "${modules}")"

# 5. smoke test: a copy of the bundle, run from an empty temporary folder with a bare
#    environment (no PYTHONPATH, no venv, HOME in the temp folder), far from the source tree.
smoke="$(mktemp -d "${TMPDIR:-/tmp}/braggdesk-smoke.XXXXXX")"
trap 'rm -rf "${smoke}"' EXIT
cp -a "${bundle}" "${smoke}/app"
mkdir -p "${smoke}/home" "${smoke}/work"
app="${smoke}/app/braggdesk"
bare=(env -i "HOME=${smoke}/home" "PATH=/usr/bin:/bin" "LANG=C.UTF-8" "TMPDIR=${smoke}")
run_bare() { (cd "${smoke}/work" && "${bare[@]}" "$@"); }

for i in 1 2 3; do
  t=$(date +%s.%N)
  out="$(run_bare "${app}" --version)"
  record "version_startup_s_${i}" "$(elapsed "${t}")"
done
[ "${out}" = "braggdesk ${version}" ] || { echo "build.sh: --version said '${out}', expected 'braggdesk ${version}'" >&2; exit 1; }

commands="$(run_bare "${app}" --help | sed -n 's/^    \([a-z][a-z-]*\) .*/\1/p; s/^    \([a-z][a-z-]*\)$/\1/p' | sort -u)"
for cmd in ${commands}; do
  run_bare "${app}" "${cmd}" --help > /dev/null
done
record commands "$(echo ${commands} | tr ' ' ',')"

t=$(date +%s.%N)
run_bare "${app}" demo --primaries "${primaries}" --out "${smoke}/work/demo" > "${smoke}/demo.log" 2>&1 \
  || { cat "${smoke}/demo.log" >&2; exit 1; }
record demo_s "$(elapsed "${t}")"
for f in RD_demo.dcm dose_slices.png; do
  [ -s "${smoke}/work/demo/${f}" ] || { echo "build.sh: demo from the bundle wrote no ${f}" >&2; cat "${smoke}/demo.log" >&2; exit 1; }
done
tail -3 "${smoke}/demo.log"

if echo "${commands}" | grep -qx gui && command -v xvfb-run > /dev/null \
   && run_bare "${app}" gui --help | grep -q -- --screenshot; then
  gui_args=("${smoke}/work/demo")
  run_bare "${app}" gui --help | grep -q -- --demo && gui_args=(--demo)
  t=$(date +%s.%N)
  run_bare /usr/bin/xvfb-run -a -s "-screen 0 1280x800x24" "${app}" gui "${gui_args[@]}" \
    --screenshot "${smoke}/work/gui.png" > "${smoke}/gui.log" 2>&1 || { cat "${smoke}/gui.log" >&2; exit 1; }
  record gui_screenshot_s "$(elapsed "${t}")"
  [ -s "${smoke}/work/gui.png" ] || { echo "build.sh: the GUI from the bundle wrote no screenshot" >&2; exit 1; }
else
  record gui_screenshot_s "not measured (no gui command with --screenshot in this bundle, or no xvfb-run)"
fi

say "bundle ${bundle} ($(du -sh "${bundle}" | cut -f1)) built and smoke-tested in $(elapsed "${t0}") s; figures in ${report}"
