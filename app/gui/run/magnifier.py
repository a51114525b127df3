"""The target, magnified: a crop of the full-resolution screenshot around the proposed point, about 3x.

The whole-screen preview is shrunk to fit the window; here one screenshot pixel is ZOOM x ZOOM widget pixels
(nearest neighbour, so edges stay crisp), and a person can tell which of two neighbouring buttons the point is
on. The crop is clamped at the screenshot's edges: the crosshair then leaves the middle, still exactly on the
point. The crosshair's arms stop short of the point's own pixel, so that pixel stays visible. Text is drawn
with QPainter.drawText: plain text, never HTML.
"""

from __future__ import annotations

import math

from PIL import Image
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from app.gui.plain_text import plain_tooltip
from app.gui.preview import HALO, verdict_colour
from sandbox.actions import Action, describe, target_point
from sandbox.geometry import ModelFrame

ZOOM = 3  # widget px per screenshot px
PICTURE_PX = (360, 240)  # the magnified crop: 120 x 80 screenshot px
FRAME_PX = 1  # a frame around it (never over it: it would hide the screenshot's own edge)
GAP_PX = 7  # from the point's pixel centre to where an arm begins: the pixel and its neighbours stay visible
ARM_PX = 34
RING_PX = 20
BACKGROUND = QColor(38, 40, 46)
MUTED = QColor(170, 174, 182)
FRAME = QColor(96, 100, 110)
FONT_PX = 14


class MagnifierView(QWidget):
    """The area around one action's point, magnified; a short message for actions without a point."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(PICTURE_PX[0] + 2 * FRAME_PX, PICTURE_PX[1] + 2 * FRAME_PX)
        self.setToolTip(plain_tooltip(f"The target, magnified {ZOOM}x from the full-resolution screenshot"))
        self._picture = QImage()
        self._picture_at = QPoint(0, 0)  # the magnified crop's top-left in widget px
        self._box = QRect()
        self._colour = verdict_colour("allow")
        self.centre: QPoint | None = None  # widget px at the middle of the point's magnified pixel
        self.message = ""
        self.clear()

    def clear(self) -> None:
        self._set(message="The target, magnified, shows here.")

    def show(  # type: ignore[override]  # QWidget.show() takes nothing; this one shows a target
        self,
        screenshot: Image.Image,
        frame: ModelFrame,
        action: Action | None,
        *,
        box: tuple[int, int, int, int] | None = None,
        verdict: str = "allow",
        pointer: tuple[int, int] | None = None,
    ) -> None:
        """Magnify `screenshot` (physical px, placed on the screen by `frame`) around `action`'s point."""
        if action is None:
            self.clear()
            return
        point = target_point(action, pointer)
        if point is None:
            self._set(message=f"No point on the screen: {describe(action)}")
            return
        px, py = frame.screen_to_physical(*point)
        column, row = math.floor(px), math.floor(py)
        if not (0 <= column < screenshot.width and 0 <= row < screenshot.height):
            self._set(message=f"({point[0]}, {point[1]}) is not on the captured screen: {describe(action)}")
            return
        area = self.picture_area()
        span_x, span_y = math.ceil(area.width() / ZOOM), math.ceil(area.height() / ZOOM)
        left = min(max(column - span_x // 2, 0), max(screenshot.width - span_x, 0))
        top = min(max(row - span_y // 2, 0), max(screenshot.height - span_y, 0))
        crop = screenshot.crop((left, top, min(left + span_x, screenshot.width), min(top + span_y, screenshot.height)))
        crop = crop.convert("RGB").resize((crop.width * ZOOM, crop.height * ZOOM), Image.Resampling.NEAREST)
        picture = QImage(crop.tobytes(), crop.width, crop.height, 3 * crop.width, QImage.Format.Format_RGB888).copy()
        at = area.topLeft() + QPoint(
            max((area.width() - crop.width) // 2, 0), max((area.height() - crop.height) // 2, 0)
        )
        centre = at + QPoint((column - left) * ZOOM + ZOOM // 2, (row - top) * ZOOM + ZOOM // 2)
        box_rect = QRect()
        if box is not None:
            corners = [frame.screen_to_physical(box[0], box[1]), frame.screen_to_physical(box[2], box[3])]
            (x0, y0), (x1, y1) = ((round((cx - left) * ZOOM), round((cy - top) * ZOOM)) for cx, cy in corners)
            box_rect = QRect(QPoint(x0, y0), QPoint(x1, y1)).normalized().translated(at)
        self._set(picture=picture, at=at, centre=centre, box=box_rect, colour=verdict_colour(verdict))

    def picture_area(self) -> QRect:
        """Where the magnified crop goes: inside the frame."""
        return self.rect().adjusted(FRAME_PX, FRAME_PX, -FRAME_PX, -FRAME_PX)

    def _set(
        self,
        *,
        message: str = "",
        picture: QImage | None = None,
        at: QPoint | None = None,
        centre: QPoint | None = None,
        box: QRect | None = None,
        colour: QColor | None = None,
    ) -> None:
        self.message = message
        self._picture = picture if picture is not None else QImage()
        self._picture_at = at if at is not None else QPoint(0, 0)
        self.centre = centre
        self._box = box if box is not None else QRect()
        self._colour = colour if colour is not None else verdict_colour("allow")
        self.update()

    # -- painting ----------------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), FRAME)
        area = self.picture_area()
        painter.fillRect(area, BACKGROUND)
        painter.setClipRect(area)
        if self._picture.isNull():
            self._paint_message(painter)
        else:
            painter.drawImage(self._picture_at, self._picture)
            if not self._box.isNull():
                self._paint_box(painter)
            if self.centre is not None:
                self._paint_crosshair(painter, self.centre)
        painter.end()

    def _paint_message(self, painter: QPainter) -> None:
        font = QFont("DejaVu Sans")
        font.setPixelSize(FONT_PX)
        painter.setFont(font)
        painter.setPen(MUTED)
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        painter.drawText(QRectF(self.picture_area().adjusted(18, 12, -18, -12)), int(flags), self.message)

    def _paint_box(self, painter: QPainter) -> None:
        for colour, width, dashed in ((HALO, 4, False), (self._colour, 2, True)):
            pen = QPen(colour, width)
            if dashed:
                pen.setDashPattern([3.0, 2.0])  # in pen widths: 6 px on, 4 off
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(self._box)

    def _paint_crosshair(self, painter: QPainter, centre: QPoint) -> None:
        """Arms 3 px wide on the point's pixel row and column (a magnified pixel is 3 px), a ring around it."""
        cx, cy, half = centre.x(), centre.y(), ZOOM // 2
        length = ARM_PX - GAP_PX + 1
        arms = [
            QRect(cx + GAP_PX, cy - half, length, ZOOM),
            QRect(cx - ARM_PX, cy - half, length, ZOOM),
            QRect(cx - half, cy + GAP_PX, ZOOM, length),
            QRect(cx - half, cy - ARM_PX, ZOOM, length),
        ]
        middle = QPointF(cx + 0.5, cy + 0.5)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for colour, grow in ((HALO, 1), (self._colour, 0)):
            painter.setPen(QPen(colour, 2 + 2 * grow))
            painter.drawEllipse(middle, RING_PX, RING_PX)
            for arm in arms:
                painter.fillRect(arm.adjusted(-grow, -grow, grow, grow), colour)
