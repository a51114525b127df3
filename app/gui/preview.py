"""The step preview: the picture the model saw, with the proposed action drawn where it will happen.

Scene coordinates are pixels of the model's image. A screen point maps there through the step's frame
(screen -> screenshot pixel -> model image pixel, per axis), so the crosshair sits exactly where the click
will land. In approve mode a click on the picture moves the target (target_moved gives the screen point).
"""

from __future__ import annotations

import dataclasses

from PIL import Image
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QMouseEvent, QPainter, QPen, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItemGroup,
    QGraphicsLineItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
)

from sandbox.actions import Action, Click, Drag, Finish, Hotkey, Move, Scroll, Type, Wait, describe, target_point
from sandbox.geometry import ModelFrame

MARK = QColor(230, 40, 90)
BOX = QColor(255, 170, 0)
ALLOW, CONFIRM, DENY = QColor(40, 170, 90), QColor(235, 160, 20), QColor(220, 50, 50)
VERDICT_COLOURS = {"allow": ALLOW, "confirm": CONFIRM, "deny": DENY}  # the one mapping: preview, magnifier, overlay
HALO = QColor(250, 250, 250)  # the light edge under lines drawn over a screen, so they show on any background


def verdict_colour(verdict: str) -> QColor:
    """The colour of the policy's verdict; an unknown verdict is drawn as a refusal, never as allowed."""
    return QColor(VERDICT_COLOURS.get(verdict, DENY))


def pixmap_from(image: Image.Image) -> QPixmap:
    rgb = image.convert("RGB")
    data = rgb.tobytes()
    qimage = QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(qimage.copy())


class PreviewView(QGraphicsView):
    target_moved = Signal(int, int)  # screen x, y chosen by clicking the picture
    changed = Signal()  # the picture or the action shown changed (the step view's magnifier follows)

    def __init__(self) -> None:
        super().__init__()
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setMinimumSize(400, 225)
        self.setBackgroundBrush(QBrush(QColor(38, 40, 46)))
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self._picture = QGraphicsPixmapItem()
        self._scene.addItem(self._picture)
        self.marker = QGraphicsItemGroup()  # the crosshair; its pos() is the target in scene coordinates
        self._scene.addItem(self.marker)
        self._box = QGraphicsRectItem()
        self._drag = QGraphicsLineItem()
        self._caption = QGraphicsSimpleTextItem()
        for item in (self._box, self._drag, self._caption):
            self._scene.addItem(item)
        self._build_marker()
        self.frame: ModelFrame | None = None
        self.image: Image.Image | None = None  # the picture shown, as given
        self.model_size = (1, 1)
        self.action: Action | None = None
        self.box: tuple[int, int, int, int] | None = None
        self.verdict = "allow"
        self.editable = False
        self.clear()

    def _build_marker(self) -> None:
        pen = QPen(MARK, 3)
        pen.setCosmetic(True)
        ring = QGraphicsEllipseItem(-14, -14, 28, 28)
        ring.setPen(pen)
        self.marker.addToGroup(ring)
        for x1, y1, x2, y2 in ((-24, 0, -6, 0), (6, 0, 24, 0), (0, -24, 0, -6), (0, 6, 0, 24)):
            line = QGraphicsLineItem(x1, y1, x2, y2)
            line.setPen(pen)
            self.marker.addToGroup(line)
        self.marker.setFlag(QGraphicsItemGroup.GraphicsItemFlag.ItemIgnoresTransformations)
        self.marker.setZValue(10)
        box_pen = QPen(BOX, 2, Qt.PenStyle.DashLine)
        box_pen.setCosmetic(True)
        self._box.setPen(box_pen)
        drag_pen = QPen(MARK, 3)
        drag_pen.setCosmetic(True)
        self._drag.setPen(drag_pen)
        self._caption.setBrush(QBrush(QColor(255, 255, 255)))
        self._caption.setFont(QFont("DejaVu Sans", 13, QFont.Weight.Bold))
        self._caption.setFlag(QGraphicsSimpleTextItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self._caption.setZValue(11)

    # -- coordinates ---------------------------------------------------------------------------------
    def screen_to_scene(self, x: float, y: float) -> QPointF:
        assert self.frame is not None
        px, py = self.frame.screen_to_physical(x, y)
        return QPointF(
            px * self.model_size[0] / self.frame.shot_width, py * self.model_size[1] / self.frame.shot_height
        )

    def scene_to_screen(self, point: QPointF) -> tuple[int, int]:
        assert self.frame is not None
        px = point.x() * self.frame.shot_width / self.model_size[0]
        py = point.y() * self.frame.shot_height / self.model_size[1]
        px = min(max(px, 0.0), self.frame.shot_width - 1.0)
        py = min(max(py, 0.0), self.frame.shot_height - 1.0)
        return self.frame.physical_to_screen(px, py)

    # -- content -------------------------------------------------------------------------------------
    def clear(self) -> None:
        self._picture.setPixmap(QPixmap())
        for item in (self.marker, self._box, self._drag, self._caption):
            item.hide()
        self.frame, self.image, self.action, self.box, self.editable = None, None, None, None, False
        self.changed.emit()

    def show_picture(self, image: Image.Image, frame: ModelFrame) -> None:
        self._picture.setPixmap(pixmap_from(image))
        self.model_size = image.size
        self.frame, self.image = frame, image
        self._scene.setSceneRect(QRectF(0, 0, image.width, image.height))
        for item in (self.marker, self._box, self._drag, self._caption):
            item.hide()
        self.action, self.box = None, None
        self._fit()
        self.changed.emit()

    def show_action(
        self,
        action: Action | None,
        *,
        box: tuple[int, int, int, int] | None = None,
        verdict: str = "allow",
        editable: bool = False,
    ) -> None:
        """Draw `action` (screen coordinates) over the current picture."""
        self.action, self.editable = action, editable and action is not None and target_point(action) is not None
        self.box, self.verdict = box, verdict
        for item in (self.marker, self._box, self._drag, self._caption):
            item.hide()
        if action is None or self.frame is None:
            self.changed.emit()
            return
        colour = verdict_colour(verdict)
        for child in self.marker.childItems():
            pen = child.pen()  # type: ignore[attr-defined]
            pen.setColor(colour)
            child.setPen(pen)  # type: ignore[attr-defined]
        drag_pen = self._drag.pen()
        drag_pen.setColor(colour)
        self._drag.setPen(drag_pen)
        point = target_point(action)
        if point is not None:
            self.marker.setPos(self.screen_to_scene(*point))
            self.marker.show()
        if isinstance(action, Drag):
            start = (action.x, action.y) if action.x is not None and action.y is not None else None
            end = self.screen_to_scene(action.to_x, action.to_y)
            begin = self.screen_to_scene(*start) if start else end
            self._drag.setLine(begin.x(), begin.y(), end.x(), end.y())
            self._drag.show()
        if box is not None:
            top_left = self.screen_to_scene(box[0], box[1])
            bottom_right = self.screen_to_scene(box[2], box[3])
            self._box.setRect(QRectF(top_left, bottom_right).normalized())
            self._box.show()
        caption = describe(action) if isinstance(action, (Type, Hotkey, Wait, Finish, Scroll)) else ""
        if caption:
            anchor = self.marker.pos() + QPointF(18, 18) if point is not None else QPointF(16, 16)
            self._caption.setText(caption)
            self._caption.setPos(anchor)
            self._caption.show()
        self.changed.emit()

    def moved_action(self, x: int, y: int) -> Action | None:
        """The current action with its target moved to screen (x, y)."""
        action = self.action
        if isinstance(action, (Click, Move, Scroll)):
            return dataclasses.replace(action, x=x, y=y)
        if isinstance(action, Drag):
            return dataclasses.replace(action, to_x=x, to_y=y)
        return action

    # -- events --------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        if not self.editable or self.frame is None or event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        x, y = self.scene_to_screen(self.mapToScene(event.position().toPoint()))
        moved = self.moved_action(x, y)
        if moved is not None:  # the verdict stays the proposal's (the executor checks the moved action again)
            self.show_action(moved, verdict=self.verdict, editable=True)
            self.target_moved.emit(x, y)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if not self._picture.pixmap().isNull():
            self.fitInView(self._picture, Qt.AspectRatioMode.KeepAspectRatio)
