"""The 3D view (VTK): body surface of the CT, structures as surfaces, dose isosurfaces, beams as arrows.

Surfaces come from a downsampled copy of each grid (at most ``MAX_3D_VOXELS_PER_AXIS``
voxels per axis), which keeps marching cubes and software OpenGL (llvmpipe)
interactive: a frame costs about 0.5 ms per thousand triangles there, and the
2 mm demo's body, structures and dose make 60 k triangles at 64 per axis
(150 k at 96).  Dose isosurfaces can be built on any thread
(:func:`dose_surfaces`); the view only swaps them in and renders.  ``render_image`` reads the VTK pixels back with
vtkWindowToImageFilter, because ``QWidget.grab()`` leaves the VTK part black.
Grids are assumed axis aligned, as in the slice views.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import vtkmodules.qt

vtkmodules.qt.PyQtImpl = "PySide6"

from PySide6 import QtCore, QtWidgets  # noqa: E402
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor  # noqa: E402
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy  # noqa: E402
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPolyData  # noqa: E402
from vtkmodules.vtkCommonTransforms import vtkTransform  # noqa: E402
from vtkmodules.vtkFiltersCore import vtkFlyingEdges3D, vtkQuadricDecimation  # noqa: E402
from vtkmodules.vtkFiltersGeneral import vtkTransformFilter  # noqa: E402
from vtkmodules.vtkFiltersSources import vtkArrowSource  # noqa: E402
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera  # noqa: E402
from vtkmodules.vtkRenderingCore import (  # noqa: E402
    vtkActor, vtkPolyDataMapper, vtkRenderer, vtkWindowToImageFilter)
import vtkmodules.vtkRenderingOpenGL2  # noqa: E402,F401  (registers the OpenGL back end)

from ..engine.geometry import beam_frame  # noqa: E402
from ..model import Plan, StructureMask, Volume  # noqa: E402

MAX_3D_VOXELS_PER_AXIS = 64
BODY_THRESHOLD_HU = -400.0
DOSE_ISO_PERCENT = ((90.0, (1.0, 0.1, 0.1), 0.6), (50.0, (1.0, 0.8, 0.0), 0.3))
BEAM_ARROW_MM = 150.0
#: fraction of the triangles taken out of the body and structure surfaces: they are built once and drawn in
#: every frame (0.6: a frame of the 2 mm demo in about half the time on llvmpipe, shapes unchanged to the eye)
STATIC_SURFACE_REDUCTION = 0.6
MIN_TRIANGLES_TO_DECIMATE = 2000
RENDER_DELAY_MS = 15
SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swr", "software", "gdi generic", "swiftshader")


def _image(values: np.ndarray, grid: Volume, stride: int) -> vtkImageData:
    sub = np.ascontiguousarray(values[::stride, ::stride, ::stride], dtype=np.float32)
    img = vtkImageData()
    nk, nj, ni = sub.shape
    img.SetDimensions(ni, nj, nk)
    di, dj, dk = grid.spacing_mm
    img.SetSpacing(di * stride, dj * stride, dk * stride)
    img.SetOrigin(*grid.origin_mm)
    arr = numpy_to_vtk(sub.ravel(), deep=True)
    arr.SetName("values")
    img.GetPointData().SetScalars(arr)
    return img


def stride_for(grid: Volume) -> int:
    """Every how many voxels the 3D view samples a grid (at most MAX_3D_VOXELS_PER_AXIS per axis)."""
    return max(1, int(np.ceil(max(grid.shape) / MAX_3D_VOXELS_PER_AXIS)))


def isosurface(img: vtkImageData, level: float) -> vtkPolyData:
    """The surface at ``level``, computed now (not when first rendered), so any thread can build it."""
    iso = vtkFlyingEdges3D()
    iso.SetInputData(img)
    iso.SetValue(0, level)
    iso.ComputeNormalsOn()
    iso.Update()
    out = vtkPolyData()
    out.ShallowCopy(iso.GetOutput())
    return out


def static_surface(values: np.ndarray, grid: Volume, level: float) -> vtkPolyData:
    """A surface drawn in every frame (body, structure): marched, then decimated.  Seconds of VTK for a big
    patient, mostly without the GIL: build it off the GUI thread (:func:`body_surface`, :func:`structure_surface`)."""
    poly = isosurface(_image(values, grid, stride_for(grid)), level)
    if STATIC_SURFACE_REDUCTION <= 0 or poly.GetNumberOfPolys() < MIN_TRIANGLES_TO_DECIMATE:
        return poly
    decimate = vtkQuadricDecimation()
    decimate.SetInputData(poly)
    decimate.SetTargetReduction(STATIC_SURFACE_REDUCTION)
    decimate.VolumePreservationOn()
    decimate.Update()
    out = vtkPolyData()
    out.ShallowCopy(decimate.GetOutput())
    return out


def body_surface(ct: Volume) -> vtkPolyData:
    """The outline of the patient: the CT above BODY_THRESHOLD_HU."""
    return static_surface(ct.hu, ct, BODY_THRESHOLD_HU)


def structure_surface(mask: StructureMask) -> vtkPolyData:
    return static_surface(mask.fraction, mask.grid, 0.5)


def shows_in_3d(mask: StructureMask) -> bool:
    """The EXTERNAL contour is the body surface already."""
    return mask.roi.roi_type.upper() != "EXTERNAL"


@dataclass
class Surface:
    """A finished surface and how to draw it: what a thread hands to :meth:`View3D.set_dose_surfaces`."""

    polydata: vtkPolyData
    color: tuple[float, float, float]
    opacity: float


def dose_surfaces(dose_gy: np.ndarray, grid: Volume, reference_gy: float) -> list[Surface]:
    """The dose isosurfaces (DOSE_ISO_PERCENT of ``reference_gy``) on the 3D view's sampling of ``grid``.

    Pure VTK filters on arrays, no rendering: call it off the GUI thread (the run worker
    does, after a batch) and hand the result to the view, which only swaps mapper inputs.
    """
    if reference_gy <= 0:
        return []
    img = _image(dose_gy, grid, stride_for(grid))
    return [Surface(isosurface(img, pct / 100 * reference_gy), color, opacity)
            for pct, color, opacity in DOSE_ISO_PERCENT]


def _polydata_actor(polydata: vtkPolyData, color, opacity: float) -> vtkActor:
    mapper = vtkPolyDataMapper()
    mapper.SetInputData(polydata)
    mapper.ScalarVisibilityOff()
    actor = vtkActor()
    actor.SetMapper(mapper)
    actor.GetProperty().SetColor(*color)
    actor.GetProperty().SetOpacity(opacity)
    return actor


def _arrow_actor(start: np.ndarray, direction: np.ndarray, length: float) -> vtkActor:
    """An arrow from ``start`` along unit ``direction`` (vtkArrowSource points along +x from 0 to 1)."""
    arrow = vtkArrowSource()
    arrow.SetTipLength(0.15)
    arrow.SetShaftRadius(0.015)
    arrow.SetTipRadius(0.05)
    x = np.array([1.0, 0.0, 0.0])
    axis = np.cross(x, direction)
    angle = np.degrees(np.arccos(np.clip(np.dot(x, direction), -1, 1)))
    if np.linalg.norm(axis) < 1e-9:
        axis = np.array([0.0, 0.0, 1.0])
    t = vtkTransform()
    t.Translate(*start)
    t.RotateWXYZ(angle, *axis)
    t.Scale(length, length, length)
    tf = vtkTransformFilter()
    tf.SetTransform(t)
    tf.SetInputConnection(arrow.GetOutputPort())
    mapper = vtkPolyDataMapper()
    mapper.SetInputConnection(tf.GetOutputPort())
    actor = vtkActor()
    actor.SetMapper(mapper)
    actor.GetProperty().SetColor(0.2, 0.6, 1.0)
    return actor


class View3D(QtWidgets.QWidget):
    """A QVTKRenderWindowInteractor with the patient's surfaces; updates replace actors of one kind."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.vtk_widget = QVTKRenderWindowInteractor(self)
        layout.addWidget(self.vtk_widget)
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(0.08, 0.08, 0.12)
        self.render_window = self.vtk_widget.GetRenderWindow()
        self.render_window.AddRenderer(self.renderer)
        # Measured on Mesa llvmpipe (software OpenGL), 2 mm demo: 4x multisampling (VTK's default) makes a
        # frame 30-40 % slower, FXAA smooths edges for almost nothing instead; order-independent translucency
        # (VTK's default without depth peeling) costs another 30 %, and plain blending of these few
        # see-through surfaces looks the same.
        self.render_window.SetMultiSamples(0)
        self.renderer.UseFXAAOn()
        self.renderer.SetUseOIT(False)
        self.vtk_widget.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
        self._actors: dict[str, list[vtkActor]] = {"body": [], "structures": [], "dose": [], "beams": []}
        self._structure_actors: dict[str, tuple[StructureMask, vtkActor]] = {}  # marched once per mask
        self._ct: Volume | None = None
        self._stride = 1
        self._started = False
        self.closed = False
        self._renderer_name: str | None = None  # OpenGL's renderer string, once known
        self.dose_updates = 0  # how many times the dose surfaces were replaced (tests, measurements)
        self.render_seconds: list[float] = []  # how long each render took (measurements)
        # a render takes 20-60 ms on llvmpipe: the updates of the next RENDER_DELAY_MS share one, and the
        # repaints those updates caused elsewhere in the window go first, in their own turn of the event loop
        self._render_timer = QtCore.QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(RENDER_DELAY_MS)
        self._render_timer.timeout.connect(self._render)

    def _replace(self, kind: str, actors: list[vtkActor]) -> None:
        for actor in self._actors[kind]:
            self.renderer.RemoveActor(actor)
        self._actors[kind] = actors
        for actor in actors:
            self.renderer.AddActor(actor)

    def actor_count(self, kind: str) -> int:
        return len(self._actors[kind])

    def set_ct(self, ct: Volume, body: vtkPolyData | None = None) -> None:
        """A new patient; ``body`` from :func:`body_surface`, now or later with :meth:`set_body`."""
        self._ct = ct
        self._stride = stride_for(ct)
        self._replace("body", [])
        if body is not None:
            self.set_body(body)
        self._replace("structures", [])
        self._structure_actors.clear()
        self._replace("dose", [])
        # the camera from the CT's extent, not from the actors: the body surface may not be there yet
        lo = np.asarray(ct.origin_mm, float)
        hi = lo + (np.asarray(ct.shape[::-1]) - 1) * np.asarray(ct.spacing_mm)
        bounds = [v for pair in zip(np.minimum(lo, hi), np.maximum(lo, hi)) for v in pair]
        cam = self.renderer.GetActiveCamera()
        cam.SetFocalPoint(*((lo + hi) / 2))
        cam.SetViewUp(0, 0, 1)  # superior up
        cam.SetPosition(*((lo + hi) / 2 + np.array([-1.0, -2.0, 0.8]) * 3 * float(np.max(np.abs(hi - lo)))))
        self.renderer.ResetCamera(bounds)
        self.refresh()

    def set_body(self, body: vtkPolyData) -> None:
        self._replace("body", [_polydata_actor(body, (0.9, 0.75, 0.65), 0.25)])
        self.refresh()

    def add_structure_surfaces(self, surfaces: list[tuple[StructureMask, vtkPolyData]]) -> None:
        """Surfaces built elsewhere (:func:`structure_surface`, off the GUI thread), for set_structures to use."""
        for mask, poly in surfaces:
            color = tuple(c / 255 for c in mask.roi.color_rgb)
            self._structure_actors[mask.name] = (mask, _polydata_actor(poly, color, 0.35))

    def set_structures(self, masks: list[StructureMask], visible: set[str]) -> None:
        if self._ct is None:
            return
        actors = [self._structure_actor(m) for m in masks if m.name in visible and shows_in_3d(m)]
        self._replace("structures", actors)
        self.refresh()

    def _structure_actor(self, mask: StructureMask) -> vtkActor:
        """The surface of a mask: given by add_structure_surfaces, or built here the first time it is shown."""
        cached = self._structure_actors.get(mask.name)
        if cached is None or cached[0] is not mask:
            self.add_structure_surfaces([(mask, structure_surface(mask))])
            cached = self._structure_actors[mask.name]
        return cached[1]

    def set_dose(self, dose_gy: np.ndarray | None, reference_gy: float) -> None:
        """Dose isosurfaces built here, on the calling thread; a run builds them in its worker instead."""
        if self._ct is None or dose_gy is None:
            self.set_dose_surfaces([])
        else:
            self.set_dose_surfaces(dose_surfaces(dose_gy, self._ct, reference_gy))

    def set_dose_surfaces(self, surfaces: list[Surface]) -> None:
        """Show finished surfaces (from :func:`dose_surfaces`): existing actors get the new polydata."""
        actors = self._actors["dose"]
        if self._ct is None:
            surfaces = []
        if len(actors) != len(surfaces):
            self._replace("dose", [_polydata_actor(s.polydata, s.color, s.opacity) for s in surfaces])
        else:
            for actor, surface in zip(actors, surfaces):
                actor.GetMapper().SetInputData(surface.polydata)
                actor.GetProperty().SetColor(*surface.color)
                actor.GetProperty().SetOpacity(surface.opacity)
        self.dose_updates += 1
        self.refresh()

    def set_plan(self, plan: Plan | None, patient_position: str = "HFS") -> None:
        actors = []
        for beam in (plan.beams if plan else []):
            frame = beam_frame(beam, patient_position)
            start = frame.isocenter_mm - frame.direction * BEAM_ARROW_MM
            actors.append(_arrow_actor(start, frame.direction, BEAM_ARROW_MM))
        self._replace("beams", actors)
        self.refresh()

    def refresh(self) -> None:
        """Render once the event loop is free: several updates in a row cost one render."""
        if not self.closed:
            self._render_timer.start()

    @property
    def software_rendering(self) -> bool:
        """True when OpenGL is a software rasterizer (Mesa llvmpipe and the like), where a frame of a few
        10 k triangles costs tens of ms, or when the view has not rendered yet (nothing known)."""
        if self._renderer_name is None:
            return True
        return any(name in self._renderer_name.lower() for name in SOFTWARE_RENDERERS)

    def _note_renderer(self) -> None:
        lines = [ln for ln in self.render_window.ReportCapabilities().splitlines() if "renderer string" in ln]
        self._renderer_name = lines[0].split(":", 1)[1].strip() if lines else ""

    def _render(self) -> None:
        if self.closed or not self.isVisible():
            return
        if not self._started:
            self.vtk_widget.Initialize()
            self._started = True
        if self._renderer_name is None:
            self.render_window.Render()  # a context to ask
            self._note_renderer()
        t0 = time.perf_counter()
        self.render_window.Render()
        self.render_seconds.append(time.perf_counter() - t0)

    def render_image(self) -> np.ndarray:
        """The VTK pixels as an (h, w, 3) uint8 array, top row first."""
        if not self._started:
            self.vtk_widget.Initialize()
            self._started = True
        return self._read_back()

    def _read_back(self) -> np.ndarray:
        # Render into the back buffer and read it before any swap: after a swap the back buffer's content
        # is undefined (on Mesa/GLX it is sometimes stale or garbage).
        window = self.render_window
        window.SwapBuffersOff()
        try:
            window.Render()
            grab = vtkWindowToImageFilter()
            grab.SetInput(window)
            grab.SetInputBufferTypeToRGB()
            grab.ReadFrontBufferOff()
            grab.ShouldRerenderOff()
            grab.Update()
        finally:
            window.SwapBuffersOn()
        window.Render()  # show the same frame on screen
        out = grab.GetOutput()
        w, h, _ = out.GetDimensions()
        pixels = vtk_to_numpy(out.GetPointData().GetScalars()).reshape(h, w, -1)[::-1, :, :3]
        return np.ascontiguousarray(pixels)

    def shutdown(self) -> None:
        """Close the VTK widget (it finalizes its render window) before Qt or Xvfb go away."""
        if not self.closed:
            self.closed = True
            self._render_timer.stop()
            self._structure_actors.clear()
            self.vtk_widget.close()  # its closeEvent finalizes the render window
            # drop our references so the render window (and its own X display connection) goes now,
            # not at interpreter exit after Xvfb has stopped
            self.renderer.RemoveAllViewProps()
            self.render_window.RemoveRenderer(self.renderer)
            self.renderer = self.render_window = None
            widget, self.vtk_widget = self.vtk_widget, None
            widget.setParent(None)
            widget.deleteLater()
