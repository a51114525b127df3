"""The preview on the screen itself: the proposed action drawn exactly where it will land, over the person's apps.

`ActionOverlay` is a frameless top-level window over one monitor that never takes focus and lets every click
through (Qt.WindowType.WindowTransparentForInput). It needs no compositor: the action is painted into an image
with alpha, and the window is shaped (setMask) to the painted pixels, so only they exist on the screen and
everything else shows through unchanged. Anti-aliased edges are hardened to opaque-or-absent before shaping
(an X window without a compositor has no partial transparency); a light halo keeps lines visible on any
background. Text is drawn with QPainter.drawText: plain text, never HTML.

Coordinates: actions are in deskpilot screen px. On X11 and Windows those are the system's pixels, which Qt
divides by its device pixel ratio when it scales (keeping each screen's native top-left); elsewhere (macOS)
they are Qt's own. The image is painted in device pixels, so a click's pixel is exactly the crosshair's centre.

On X11 the overlay shows in screen grabs (nothing can keep it out): hide it (`clear()`) before capturing.
"""

from __future__ import annotations

import math
import sys
import unicodedata
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import (
    QBitmap,
    QColor,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QImage,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
    QRegion,
)
from PySide6.QtWidgets import QWidget

from app.gui.preview import HALO, verdict_colour
from app.gui.run.capture_exclusion import exclude_from_capture
from app.gui.run.screen_px import NATIVE_PLATFORMS
from sandbox.actions import Action, Click, Drag, Finish, Hotkey, Move, Scroll, Type, Wait, describe, target_point
from sandbox.geometry import Monitor
from sandbox.text import shorten

OVERLAY_PROPERTY = "deskpilot_overlay"  # set on the overlay's QWindow: deskpilot's own-window tracker skips it
LINE_PX = 3  # odd, so a line is centred on a pixel
HALO_PX = 1  # the light edge on each side of every line
GAP_PX = 6  # from the centre to where the crosshair's arms begin (the target stays visible)
ARM_PX = 24  # from the centre to the arms' ends
RING_PX = 15  # the click ring's radius
DOT_PX = 5  # a drag start's dot radius
ARROW_HEAD_PX = 14
SCROLL_ARROW_PX = 40  # a scroll's direction arrow, beyond the crosshair
CAPTION_MAX_CHARS = 90
CAPTION_MAX_PX = 560
FONT_PX = 15
CURSOR_OFFSET_PX = 20  # a caption beside the pointer clears the pointer's arrow
INK = QColor(246, 247, 249)  # text on a bubble or a label
BUBBLE = QColor(34, 36, 42)
OPAQUE_ALPHA = 128  # painted pixels at least this opaque are shown (fully); the rest are left out
SCROLL_DIRECTIONS = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}

Stroke = Callable[[QPainter, bool], None]  # draws one element: its halo (True) or itself (False)


class ActionOverlay(QWidget):
    """Shows one proposed action on its monitor; `clear()` takes it off the screen before anything acts."""

    def __init__(self) -> None:
        flags = (
            Qt.WindowType.Tool  # not in the task bar
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint
            | Qt.WindowType.WindowDoesNotAcceptFocus
            | Qt.WindowType.WindowTransparentForInput
            | Qt.WindowType.NoDropShadowWindowHint
            # X11: override-redirect. A window manager would otherwise place it (a monitor-sized window is
            # often pushed below a panel, and every point would be off) and might still give it focus.
            | Qt.WindowType.X11BypassWindowManagerHint
        )
        super().__init__(None, flags)
        for attribute in (
            Qt.WidgetAttribute.WA_ShowWithoutActivating,
            Qt.WidgetAttribute.WA_X11DoNotAcceptFocus,
            Qt.WidgetAttribute.WA_TransparentForMouseEvents,
            Qt.WidgetAttribute.WA_MacAlwaysShowToolWindow,
            Qt.WidgetAttribute.WA_NoSystemBackground,
            Qt.WidgetAttribute.WA_OpaquePaintEvent,
        ):
            self.setAttribute(attribute, True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setWindowTitle("deskpilot action overlay")
        self.create()
        self._mark_window()
        self.excluded_from_capture = exclude_from_capture(self)
        self._image = QImage()
        self.action: Action | None = None
        self.monitor: Monitor | None = None
        self.target: tuple[int, int] | None = None  # the screen point the crosshair is centred on

    def show_action(
        self,
        action: Action,
        *,
        box: tuple[int, int, int, int] | None,
        verdict: str,
        monitor: Monitor,
        pointer: tuple[int, int] | None = None,
        element: str | None = None,
    ) -> None:
        """Draw `action` (screen px) over `monitor`; `pointer` is where a drag or scroll "at the pointer" starts;
        `element`: what its point hits, in words (push button 'Save'), captioned beside the point."""
        geometry, ratio, device_per_px = _placement(monitor)
        size = QSize(round(monitor.width * device_per_px), round(monitor.height * device_per_px))
        image = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        sketch = _Sketch(monitor, device_per_px, verdict_colour(verdict), size)
        self.target = sketch.add_action(action, box=box, pointer=pointer, element=element)
        painter = QPainter(image)
        sketch.render(painter)
        painter.end()
        image, painted = _harden(image)
        self.action, self.monitor = action, monitor
        if not painted.any():  # nothing of this action lies on this monitor
            self.clear()
            return
        image.setDevicePixelRatio(ratio)
        self._image = image
        self.setGeometry(geometry)
        self.setMask(_region(painted, geometry.size()))
        self._mark_window()
        self.show()
        self.raise_()  # without a window manager, stacking is ours to keep
        self.update()

    def clear(self) -> None:
        """Hide; on return the window system has taken it off the screen (the executor acts right after)."""
        self.hide()
        QGuiApplication.sync()  # a round trip: the unmap has reached the X server, not just our queue
        self.action, self.target = None, None

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawImage(QPoint(0, 0), self._image)
        painter.end()

    def _mark_window(self) -> None:
        handle = self.windowHandle()
        if handle is not None:
            handle.setProperty(OVERLAY_PROPERTY, True)


def _placement(monitor: Monitor) -> tuple[QRect, float, float]:
    """(the window's Qt geometry covering `monitor`, Qt's device pixel ratio there, device px per screen px)."""
    screen = QGuiApplication.screenAt(QPoint(monitor.x, monitor.y)) or QGuiApplication.primaryScreen()
    ratio = screen.devicePixelRatio() if screen is not None else 1.0
    native = QGuiApplication.platformName() in NATIVE_PLATFORMS
    device_per_px = 1.0 if native else ratio
    logical = 1.0 / ratio if native else 1.0  # Qt px per screen px
    size = QSize(round(monitor.width * logical), round(monitor.height * logical))
    return QRect(QPoint(monitor.x, monitor.y), size), ratio, device_per_px


def _harden(image: QImage) -> tuple[QImage, np.ndarray]:
    """Every pixel fully opaque or absent (no compositor blends the rest); returns it and where it is painted."""
    image = image.convertToFormat(QImage.Format.Format_ARGB32)  # straight alpha: colours keep their value
    pixels = np.frombuffer(image.bits(), np.uint8).reshape(image.height(), image.width(), 4)  # 32 bpp: no padding
    alpha = pixels[:, :, 3] if sys.byteorder == "little" else pixels[:, :, 0]  # ARGB32 is 0xAARRGGBB per pixel
    painted = alpha >= OPAQUE_ALPHA
    alpha[...] = np.where(painted, 255, 0).astype(np.uint8)
    return image, painted


def _region(painted: np.ndarray, size: QSize) -> QRegion:
    """The window mask (Qt px of the window) covering every painted device pixel."""
    height, width = size.height(), size.width()
    if painted.shape != (height, width):  # Qt scales: a window pixel is in when any device pixel in it is
        rows = np.minimum(np.arange(painted.shape[0]) * height // painted.shape[0], height - 1)
        cols = np.minimum(np.arange(painted.shape[1]) * width // painted.shape[1], width - 1)
        ys, xs = np.nonzero(painted)
        scaled = np.zeros((height, width), dtype=bool)
        scaled[rows[ys], cols[xs]] = True
        painted = scaled
    bits = np.packbits(painted, axis=1, bitorder="little")
    return QRegion(QBitmap.fromData(size, bits.tobytes(), QImage.Format.Format_MonoLSB))


class _Sketch:
    """One action as strokes in device px of the overlay's image: every halo first, then every line."""

    def __init__(self, monitor: Monitor, device_per_px: float, colour: QColor, size: QSize) -> None:
        self.monitor, self.unit, self.colour, self.size = monitor, device_per_px, colour, size
        self.strokes: list[Stroke] = []
        self.font = QFont("DejaVu Sans")
        self.font.setPixelSize(round(FONT_PX * device_per_px))
        self.font.setWeight(QFont.Weight.DemiBold)

    def px(self, value: float) -> int:
        return max(1, round(value * self.unit))

    def device(self, x: float, y: float) -> QPoint:
        """The device pixel holding screen point (x, y)."""
        return QPoint(math.floor((x - self.monitor.x) * self.unit), math.floor((y - self.monitor.y) * self.unit))

    def render(self, painter: QPainter) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        painter.setFont(self.font)
        for halo in (True, False):
            for stroke in self.strokes:
                painter.save()
                stroke(painter, halo)
                painter.restore()

    # -- the action --------------------------------------------------------------------------------------
    def add_action(
        self,
        action: Action,
        *,
        box: tuple[int, int, int, int] | None,
        pointer: tuple[int, int] | None,
        element: str | None = None,
    ) -> tuple[int, int] | None:
        """Add the strokes for `action`; returns the screen point the crosshair is on (None when none is).
        `element` is named beside the point it was looked up at (a drag's start)."""
        if box is not None:
            self.box(box)
        point = target_point(action, pointer)  # where it lands; a scroll without a point: where the pointer is
        target: tuple[int, int] | None = None
        match action:
            case Click() if point is not None:
                target = point
                self.crosshair(target, ring=True)
                label = " · ".join(text for text in (_click_label(action), element) if text)
                if label:
                    self.label(target, label)
            case Move() if point is not None:
                target = point
                self.crosshair(target, ring=False)
                if element:
                    self.label(target, element)
            case Drag() if point is not None:
                target = point
                start = (action.x, action.y) if action.x is not None and action.y is not None else pointer
                self.crosshair(target, ring=True)
                if start is not None:
                    self.dot(start)
                    self.arrow(self.device(*start), self.device(*target), stop_short=self.px(RING_PX + 2))
                    if element:
                        self.label(start, f"from {element}")
                else:
                    self.bubble(target, describe(action), beside=True)
            case Scroll():
                if point is not None and self.monitor.contains(*point):
                    target = point
                    self.crosshair(point, ring=False)
                    dx, dy = SCROLL_DIRECTIONS[action.direction]
                    centre, reach = self.device(*point), self.px(ARM_PX + 6)
                    begin = QPoint(centre.x() + dx * reach, centre.y() + dy * reach)
                    end = QPoint(begin.x() + dx * self.px(SCROLL_ARROW_PX), begin.y() + dy * self.px(SCROLL_ARROW_PX))
                    self.arrow(begin, end, stop_short=0)
                shown = describe(action) if not element or target is None else f"{describe(action)} on {element}"
                self.bubble(point, shown, beside=target is not None)
            case Type() | Hotkey() | Wait() | Finish():
                self.bubble(pointer, describe(action), beside=True, offset=self.px(CURSOR_OFFSET_PX))
        return target

    # -- strokes ----------------------------------------------------------------------------------------
    def crosshair(self, point: tuple[int, int], *, ring: bool) -> None:
        centre = self.device(*point)
        cx, cy = centre.x(), centre.y()
        width = self.px(LINE_PX) | 1
        half, gap, arm = width // 2, self.px(GAP_PX), self.px(ARM_PX)
        length = arm - gap + 1
        rects = [
            QRect(cx + gap, cy - half, length, width),
            QRect(cx - arm, cy - half, length, width),
            QRect(cx - half, cy + gap, width, length),
            QRect(cx - half, cy - arm, width, length),
            QRect(cx - half, cy - half, width, width),  # the centre: its middle pixel is the point's pixel
        ]
        halo_px = self.px(HALO_PX)
        radius = self.px(RING_PX)

        def draw(painter: QPainter, halo: bool) -> None:
            colour = HALO if halo else self.colour
            if ring:  # anti-aliased: a wider halo, or the blended edge pixels eat it
                pen = QPen(colour, width + (3 * halo_px if halo else 0))
                painter.setPen(pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawEllipse(QPointF(cx + 0.5, cy + 0.5), radius, radius)
            for rect in rects:
                painter.fillRect(rect.adjusted(-halo_px, -halo_px, halo_px, halo_px) if halo else rect, colour)

        self.strokes.append(draw)

    def dot(self, point: tuple[int, int]) -> None:
        centre = self.device(*point)
        middle, radius, halo_px = QPointF(centre.x() + 0.5, centre.y() + 0.5), self.px(DOT_PX), self.px(HALO_PX)

        def draw(painter: QPainter, halo: bool) -> None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(HALO if halo else self.colour)
            size = radius + (halo_px if halo else 0)
            painter.drawEllipse(middle, size, size)

        self.strokes.append(draw)

    def arrow(self, start: QPoint, end: QPoint, *, stop_short: int) -> None:
        begin, tip = QPointF(start) + QPointF(0.5, 0.5), QPointF(end) + QPointF(0.5, 0.5)
        dx, dy = tip.x() - begin.x(), tip.y() - begin.y()
        length = math.hypot(dx, dy)
        head = self.px(ARROW_HEAD_PX)
        if length <= stop_short + head:
            return
        ux, uy = dx / length, dy / length
        tip = QPointF(tip.x() - ux * stop_short, tip.y() - uy * stop_short)
        base = QPointF(tip.x() - ux * head, tip.y() - uy * head)
        wing = head * 0.55
        head_shape = QPolygonF([tip, base + QPointF(-uy * wing, ux * wing), base + QPointF(uy * wing, -ux * wing)])
        width, halo_px = self.px(LINE_PX) | 1, self.px(HALO_PX)

        def draw(painter: QPainter, halo: bool) -> None:
            colour = HALO if halo else self.colour
            pen = QPen(colour, width + (3 * halo_px if halo else 0))  # anti-aliased, as the ring
            pen.setCapStyle(Qt.PenCapStyle.FlatCap if not halo else Qt.PenCapStyle.SquareCap)
            pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
            painter.setPen(pen)
            painter.drawLine(begin, base + QPointF(ux, uy))
            if halo:
                outline = QPen(colour, 2 * halo_px)
                outline.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
                painter.setPen(outline)
            else:
                painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawPolygon(head_shape)

        self.strokes.append(draw)

    def box(self, box: tuple[int, int, int, int]) -> None:
        top_left, bottom_right = self.device(box[0], box[1]), self.device(box[2], box[3])
        rect = QRect(top_left, bottom_right).normalized()
        width, halo_px = self.px(2), self.px(HALO_PX)

        def draw(painter: QPainter, halo: bool) -> None:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
            pen = QPen(HALO if halo else self.colour, width + (2 * halo_px if halo else 0))
            pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
            if not halo:  # colour dashes on a light line: a dashed edge that reads on any background
                pen.setDashPattern([4.0, 3.0])
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect)

        self.strokes.append(draw)

    def label(self, point: tuple[int, int], text: str) -> None:
        """A small pill right of a click's ring (left of it near the monitor's right edge); one line, elided."""
        metrics = QFontMetrics(self.font)
        text = metrics.elidedText(_one_line(text), Qt.TextElideMode.ElideRight, self.px(CAPTION_MAX_PX))
        pad = self.px(6)
        size = QSize(metrics.horizontalAdvance(text) + 2 * pad, metrics.height() + self.px(4))
        centre, offset = self.device(*point), self.px(RING_PX + 8)
        rect = QRect(QPoint(centre.x() + offset, centre.y() - size.height() // 2), size)
        if rect.right() >= self.size.width():
            rect.moveRight(centre.x() - offset)
        self._panel(_inside(rect, self.size), text, fill=self.colour, border=None)

    def bubble(self, at: tuple[int, int] | None, text: str, *, beside: bool, offset: int | None = None) -> None:
        """The action in words: beside `at` (below right, flipped at the monitor's edges), or centred on `at`
        (the monitor's centre when there is no point)."""
        metrics = QFontMetrics(self.font)
        line = metrics.elidedText(_one_line(text), Qt.TextElideMode.ElideRight, self.px(CAPTION_MAX_PX))
        pad_x, pad_y = self.px(10), self.px(6)
        size = QSize(metrics.horizontalAdvance(line) + 2 * pad_x, metrics.height() + 2 * pad_y)
        if at is None or not self.monitor.contains(*at):
            at = (self.monitor.x + self.monitor.width // 2, self.monitor.y + self.monitor.height // 2)
            beside = False
        anchor = self.device(*at)
        if beside:
            offset = self.px(ARM_PX + 10) if offset is None else offset
            rect = QRect(QPoint(anchor.x() + offset, anchor.y() + offset), size)
            if rect.right() >= self.size.width():
                rect.moveRight(anchor.x() - offset)
            if rect.bottom() >= self.size.height():
                rect.moveBottom(anchor.y() - offset)
        else:
            rect = QRect(QPoint(anchor.x() - size.width() // 2, anchor.y() - size.height() // 2), size)
        self._panel(_inside(rect, self.size), line, fill=BUBBLE, border=self.colour)

    def _panel(self, rect: QRect, text: str, *, fill: QColor, border: QColor | None) -> None:
        radius, halo_px, border_px = self.px(6), self.px(HALO_PX), self.px(2)

        def draw(painter: QPainter, halo: bool) -> None:
            painter.setPen(Qt.PenStyle.NoPen)
            if halo:
                painter.setBrush(HALO)
                grown = QRectF(rect).adjusted(-halo_px, -halo_px, halo_px, halo_px)
                painter.drawRoundedRect(grown, radius + halo_px, radius + halo_px)
                return
            painter.setBrush(border if border is not None else fill)
            painter.drawRoundedRect(QRectF(rect), radius, radius)
            if border is not None:
                inner = QRectF(rect).adjusted(border_px, border_px, -border_px, -border_px)
                painter.setBrush(fill)
                painter.drawRoundedRect(inner, radius - border_px / 2, radius - border_px / 2)
            painter.setPen(INK)
            painter.drawText(QRectF(rect), Qt.AlignmentFlag.AlignCenter, text)

        self.strokes.append(draw)


def _inside(rect: QRect, size: QSize) -> QRect:
    """`rect` moved (not shrunk) to lie within an image of `size` where it fits."""
    moved = QRect(rect)
    moved.moveLeft(min(max(moved.left(), 0), max(size.width() - moved.width(), 0)))
    moved.moveTop(min(max(moved.top(), 0), max(size.height() - moved.height(), 0)))
    return moved


def _click_label(action: Click) -> str:
    """ "" for a plain left click; else what is different: "double-click", "right-click", "middle double-click"."""
    name = {1: "click", 2: "double-click", 3: "triple-click"}[action.count]
    if action.button == "left":
        return "" if action.count == 1 else name
    return f"{action.button}-click" if action.count == 1 else f"{action.button} {name}"


def _one_line(text: str) -> str:
    """Model text on one line: line breaks and invisible format characters (bidi overrides) made visible."""
    text = shorten(text, CAPTION_MAX_CHARS)
    shown = []
    for char in text:
        if char in "\r\n":
            shown.append(" ⏎ ")
        elif unicodedata.category(char) in ("Cc", "Cf"):
            shown.append(f"\\u{ord(char):04x}")
        else:
            shown.append(char)
    return "".join(shown)
