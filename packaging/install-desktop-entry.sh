#!/usr/bin/env bash
# Put braggdesk in the desktop's application menu, for the current user.
#
# Run it from the bundle folder (dist/braggdesk/, or wherever that folder was copied):
#     ./install-desktop-entry.sh            install (or update) the menu entry and icons
#     ./install-desktop-entry.sh --remove   take them out again
# It writes only below ${XDG_DATA_HOME:-~/.local/share}: applications/braggdesk.desktop with
# Exec pointing at this folder's executable, and the icon in the hicolor theme.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data_home="${XDG_DATA_HOME:-${HOME}/.local/share}"
entry="${data_home}/applications/braggdesk.desktop"
icons="${here}/_internal/braggdesk/resources/icons"
hicolor="${data_home}/icons/hicolor"

refresh_caches() {
  command -v update-desktop-database >/dev/null && update-desktop-database -q "${data_home}/applications" || true
  command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "${hicolor}" 2>/dev/null || true
}

if [ "${1:-}" = "--remove" ]; then
  rm -f "${entry}" "${hicolor}/scalable/apps/braggdesk.svg" \
        "${hicolor}/256x256/apps/braggdesk.png" "${hicolor}/64x64/apps/braggdesk.png"
  refresh_caches
  echo "removed the braggdesk menu entry and icons from ${data_home}"
  exit 0
fi

if [ ! -x "${here}/braggdesk" ] || [ ! -f "${here}/braggdesk.desktop" ] || [ ! -f "${icons}/braggdesk.svg" ]; then
  echo "install-desktop-entry.sh: run me from the braggdesk bundle folder (with braggdesk, braggdesk.desktop" \
       "and _internal/braggdesk/resources/icons); found none of that in ${here}" >&2
  exit 2
fi

install -d "${data_home}/applications" "${hicolor}/scalable/apps" "${hicolor}/256x256/apps" "${hicolor}/64x64/apps"
install -m 644 "${icons}/braggdesk.svg" "${hicolor}/scalable/apps/braggdesk.svg"
install -m 644 "${icons}/braggdesk-256.png" "${hicolor}/256x256/apps/braggdesk.png"
install -m 644 "${icons}/braggdesk-64.png" "${hicolor}/64x64/apps/braggdesk.png"
# The entry as shipped says "Exec=braggdesk gui %F" (for a braggdesk on PATH); point it here.
sed -e "s|^Exec=braggdesk |Exec=\"${here}/braggdesk\" |" -e "s|^TryExec=braggdesk$|TryExec=${here}/braggdesk|" \
  "${here}/braggdesk.desktop" > "${entry}"
chmod 644 "${entry}"
refresh_caches
echo "installed ${entry} (Exec ${here}/braggdesk gui) and the braggdesk icon under ${hicolor}"
