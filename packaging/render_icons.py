"""Render the application icon (resources/icons/braggdesk.svg) to the PNG sizes desktops ask for.

Why PNGs at all: freedesktop menus, PyInstaller and window managers prefer raster icons at fixed
sizes; the SVG stays the one source. Qt's own SVG renderer draws them, so the PNGs look like what
the GUI shows. Run after editing the SVG:

    QT_QPA_PLATFORM=offscreen python packaging/render_icons.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "src" / "braggdesk" / "resources" / "icons"
SIZES_PX = (256, 64)


def render(svg: Path, size_px: int, png: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: Qt cannot read this SVG")
    image = QImage(size_px, size_px, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    if not image.save(str(png), "PNG"):
        raise SystemExit(f"{png}: could not write the PNG")


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (fonts, image plugins)
    svg = ICONS / "braggdesk.svg"
    for size in SIZES_PX:
        png = ICONS / f"braggdesk-{size}.png"
        render(svg, size, png)
        print(f"wrote {png} ({size}x{size})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
