"""The magnifier: a crop of the full screenshot around the point, 3x with crisp pixels, crosshair exactly on it.

A synthetic screenshot holds a one-pixel marker at the point, with differently coloured neighbours right of
and below it, so the rendered widget shows where the point's pixel landed and how far one pixel reaches.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage
from pytestqt.qtbot import QtBot

from agent.events import ActionProposed, ScreenCaptured
from agent.parsing import ParsedAction
from app.gui.preview import verdict_colour
from app.gui.run.magnifier import ZOOM, MagnifierView
from app.gui.step_view import StepView
from sandbox.actions import Click, Drag, Hotkey, Scroll, Type
from sandbox.geometry import ModelFrame, ModelSpace
from sandbox.policy import Confirm

pytestmark = pytest.mark.display
GREY = (90, 90, 90)
MARKER = (255, 0, 255)
RIGHT = (0, 255, 255)  # the pixel right of the marker
BELOW = (255, 255, 0)  # the pixel below it
RGB = tuple[int, int, int]


def screenshot(width: int, height: int, x: int, y: int) -> Image.Image:
    image = Image.new("RGB", (width, height), GREY)
    image.putpixel((x, y), MARKER)
    if x + 1 < width:
        image.putpixel((x + 1, y), RIGHT)
    if y + 1 < height:
        image.putpixel((x, y + 1), BELOW)
    return image


def frame_for(image: Image.Image, *, origin: tuple[int, int] = (0, 0), scale: float = 1.0) -> ModelFrame:
    return ModelFrame(
        image.width, image.height, ModelSpace.relative(), origin_x=origin[0], origin_y=origin[1], scale=scale
    )


class Rendered:
    """The widget as it paints itself, as RGB pixels."""

    def __init__(self, view: MagnifierView) -> None:
        image = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
        rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
        self.pixels = rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()

    def width(self) -> int:
        return int(self.pixels.shape[1])

    def height(self) -> int:
        return int(self.pixels.shape[0])


def rendered(view: MagnifierView) -> Rendered:
    return Rendered(view)


def rgb(image: Rendered, x: int, y: int) -> RGB:
    r, g, b = (int(v) for v in image.pixels[y, x])
    return r, g, b


def pixels_of(image: Rendered, colour: RGB) -> set[tuple[int, int]]:
    ys, xs = np.nonzero(np.all(image.pixels == np.array(colour, np.uint8), axis=2))
    return {(int(x), int(y)) for x, y in zip(xs, ys)}


def square(left: int, top: int) -> set[tuple[int, int]]:
    return {(left + dx, top + dy) for dx in range(ZOOM) for dy in range(ZOOM)}


def as_rgb(colour: QColor) -> RGB:
    return colour.red(), colour.green(), colour.blue()


def assert_crosshair_on(image: Rendered, cx: int, cy: int, colour: RGB) -> int:
    """Each arm that is inside the picture is `colour`, centred on (cx, cy) across its width, and arms facing
    each other start at the same distance. Returns how many arms were found."""
    found: dict[tuple[int, int], int] = {}
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        for step in range(1, 60):
            x, y = cx + dx * step, cy + dy * step
            if not (0 <= x < image.width() and 0 <= y < image.height()):
                break
            if rgb(image, x, y) == colour:
                found[(dx, dy)] = step
                across = [(x + dy * k, y + dx * k) for k in (-2, -1, 1, 2)]  # perpendicular to the arm
                inside = [p for p in across if 0 <= p[0] < image.width() and 0 <= p[1] < image.height()]
                colours = {k: rgb(image, *p) == colour for k, p in zip((-2, -1, 1, 2), across) if p in inside}
                assert colours.get(-1, True) and colours.get(1, True), f"arm {dx, dy} is not 3 px wide at {x, y}"
                assert not colours.get(-2, False) and not colours.get(2, False), f"arm {dx, dy} is off-centre"
                break
    for a, b in (((1, 0), (-1, 0)), ((0, 1), (0, -1))):
        if a in found and b in found:
            assert found[a] == found[b], f"arms {a} and {b} start {found[a]} and {found[b]} px from the centre"
    assert found, "no crosshair arm"
    return len(found)


POINTS = [
    ("middle", 960, 540),
    ("top-left corner", 0, 0),
    ("top-right corner", 1919, 0),
    ("bottom-left corner", 0, 1079),
    ("bottom-right corner", 1919, 1079),
    ("left edge", 0, 540),
    ("right edge", 1919, 540),
    ("top edge", 960, 0),
    ("bottom edge", 960, 1079),
    ("near the right edge", 1905, 300),
]


@pytest.mark.parametrize(("where", "x", "y"), POINTS, ids=[p[0] for p in POINTS])
def test_the_crosshair_lands_on_the_magnified_point(qtbot: QtBot, where: str, x: int, y: int) -> None:
    view = MagnifierView()
    qtbot.addWidget(view)
    shot = screenshot(1920, 1080, x, y)
    view.show(shot, frame_for(shot), Click(x, y))
    image = rendered(view)
    assert view.centre is not None
    cx, cy = view.centre.x(), view.centre.y()
    marker = pixels_of(image, MARKER)
    assert marker == square(cx - ZOOM // 2, cy - ZOOM // 2), (
        f"{where}: the marker is not a {ZOOM}x{ZOOM} block at the centre"
    )
    if x + 1 < 1920:  # one screenshot pixel is ZOOM widget pixels: the right neighbour starts right after
        assert pixels_of(image, RIGHT) == square(cx + ZOOM - ZOOM // 2, cy - ZOOM // 2)
    if y + 1 < 1080:
        assert pixels_of(image, BELOW) == square(cx - ZOOM // 2, cy + ZOOM - ZOOM // 2)
    assert_crosshair_on(image, cx, cy, as_rgb(verdict_colour("allow")))
    # Near an edge the crop stops at the screenshot's edge, so the point is as many magnified pixels from the
    # picture's edge as it is pixels from the screenshot's; elsewhere it is in the middle.
    area = view.picture_area()
    if x * ZOOM < area.width() // 2:
        assert cx == area.left() + x * ZOOM + ZOOM // 2
    elif (1920 - x) * ZOOM < area.width() // 2:
        assert cx == area.right() + 1 - (1920 - x) * ZOOM + ZOOM // 2
    else:
        assert abs(cx - area.center().x()) <= ZOOM
    if y * ZOOM < area.height() // 2:
        assert cy == area.top() + y * ZOOM + ZOOM // 2
    elif (1080 - y) * ZOOM < area.height() // 2:
        assert cy == area.bottom() + 1 - (1080 - y) * ZOOM + ZOOM // 2
    else:
        assert abs(cy - area.center().y()) <= ZOOM


def test_a_screenshot_smaller_than_the_crop_is_shown_whole_and_centred(qtbot: QtBot) -> None:
    view = MagnifierView()
    qtbot.addWidget(view)
    shot = screenshot(40, 20, 39, 19)
    view.show(shot, frame_for(shot), Click(39, 19))
    image = rendered(view)
    assert view.centre is not None
    cx, cy = view.centre.x(), view.centre.y()
    assert pixels_of(image, MARKER) == square(cx - ZOOM // 2, cy - ZOOM // 2)
    greys = pixels_of(image, GREY)
    assert len(greys) + ZOOM * ZOOM < 40 * 20 * ZOOM * ZOOM  # the crosshair covers some of it
    area = view.picture_area()
    left = area.left() + (area.width() - 40 * ZOOM) // 2
    assert min(p[0] for p in greys) == left
    assert max(p[0] for p in greys | pixels_of(image, MARKER)) == left + 40 * ZOOM - 1


def test_screen_points_go_through_the_frame_to_physical_pixels(qtbot: QtBot) -> None:
    """A monitor right of another, at scale 2 (a Retina-like one): screen (2020, 50) is physical (200, 100)."""
    view = MagnifierView()
    qtbot.addWidget(view)
    shot = screenshot(3840, 2160, 200, 100)
    view.show(shot, frame_for(shot, origin=(1920, 0), scale=2.0), Click(2020, 50), verdict="confirm")
    image = rendered(view)
    assert view.centre is not None
    cx, cy = view.centre.x(), view.centre.y()
    assert pixels_of(image, MARKER) == square(cx - ZOOM // 2, cy - ZOOM // 2)
    assert assert_crosshair_on(image, cx, cy, as_rgb(verdict_colour("confirm"))) == 4


def test_verdict_colours_and_drag_and_scroll_points(qtbot: QtBot) -> None:
    view = MagnifierView()
    qtbot.addWidget(view)
    shot = screenshot(1920, 1080, 700, 400)
    frame = frame_for(shot)
    for action, pointer in ((Drag(100, 100, 700, 400), None), (Scroll(None, None, "down"), (700, 400))):
        view.show(shot, frame, action, verdict="deny", pointer=pointer)
        image = rendered(view)
        assert view.centre is not None
        cx, cy = view.centre.x(), view.centre.y()
        assert pixels_of(image, MARKER) == square(cx - ZOOM // 2, cy - ZOOM // 2), action
        assert assert_crosshair_on(image, cx, cy, as_rgb(verdict_colour("deny"))) == 4
        assert not pixels_of(image, as_rgb(verdict_colour("allow")))


def test_actions_without_a_point_show_a_message_instead(qtbot: QtBot) -> None:
    view = MagnifierView()
    qtbot.addWidget(view)
    shot = screenshot(1920, 1080, 960, 540)
    frame = frame_for(shot)
    view.show(shot, frame, Click(960, 540))
    assert pixels_of(rendered(view), MARKER)
    for action, words in (
        (Type("<b>hello</b>"), "type '<b>hello</b>'"),
        (Hotkey(("ctrl", "s")), "press ctrl+s"),
        (Scroll(None, None, "up"), "scroll up 3"),  # at the pointer, and the pointer is unknown
    ):
        view.show(shot, frame, action)
        assert view.message == f"No point on the screen: {words}"
        assert view.centre is None
        image = rendered(view)
        assert not pixels_of(image, MARKER) and not pixels_of(image, GREY)  # no picture, only the message
    view.show(shot, frame, Click(2500, 10))
    assert view.centre is None and "not on the captured screen" in view.message
    view.clear()
    assert view.centre is None and not pixels_of(rendered(view), MARKER)


def test_the_step_view_magnifies_the_proposal_and_follows_a_moved_target(qtbot: QtBot) -> None:
    """From the full-resolution screenshot of the step's capture; a picture from elsewhere (an earlier step
    shown from the timeline) or a reset clears it."""
    other = (0, 128, 255)
    shot = screenshot(1920, 1080, 400, 300)
    shot.putpixel((1200, 700), other)
    model_image = shot.resize((966, 546))
    frame = ModelFrame(1920, 1080, ModelSpace.absolute(966, 546))
    view = StepView()
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    qtbot.waitExposed(view)
    view.show_capture(
        ScreenCaptured(
            step=1,
            screenshot=shot,
            model_image=model_image,
            frame=frame,
            cursor=(10, 10),
            settle_s=0.0,
            capture_s=0.0,
            prepare_s=0.0,
        )
    )
    assert view.magnifier.centre is None  # nothing proposed yet

    proposed = ActionProposed(
        step=1,
        index=0,
        parsed=ParsedAction(action=Click(400, 300), model={}, source="", box=None),
        verdict=Confirm("rule", "why"),
    )
    view.show_proposal(proposed)
    image = rendered(view.magnifier)
    centre = view.magnifier.centre
    assert centre is not None
    assert pixels_of(image, MARKER) == square(centre.x() - ZOOM // 2, centre.y() - ZOOM // 2)
    assert assert_crosshair_on(image, centre.x(), centre.y(), as_rgb(verdict_colour("confirm"))) == 4

    view.ask(proposed)
    where = view.preview.mapFromScene(view.preview.screen_to_scene(1200, 700))
    qtbot.mouseClick(view.preview.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(where.x(), where.y()))
    moved = view.preview.action
    assert isinstance(moved, Click) and abs(moved.x - 1200) <= 3 and abs(moved.y - 700) <= 3
    assert view.edited == moved
    image = rendered(view.magnifier)
    centre = view.magnifier.centre
    assert centre is not None and not pixels_of(image, MARKER)
    found = pixels_of(image, other)
    assert len(found) == ZOOM * ZOOM
    left, top = min(p[0] for p in found), min(p[1] for p in found)  # the moved point's pixel is the centre
    assert (centre.x() + (1200 - moved.x) * ZOOM, centre.y() + (700 - moved.y) * ZOOM) == (
        left + ZOOM // 2,
        top + ZOOM // 2,
    )
    assert assert_crosshair_on(image, centre.x(), centre.y(), as_rgb(verdict_colour("confirm"))) == 4

    view.preview.show_picture(model_image.copy(), frame)  # the timeline shows an earlier step, as the main
    view.preview.show_action(Click(400, 300), verdict="allow")  # window does: not this capture's screenshot
    assert view.magnifier.centre is None
    view.show_capture(
        ScreenCaptured(
            step=2,
            screenshot=shot,
            model_image=model_image,
            frame=frame,
            cursor=None,
            settle_s=0.0,
            capture_s=0.0,
            prepare_s=0.0,
        )
    )
    view.show_proposal(proposed)
    assert view.magnifier.centre is not None
    view.reset()
    assert view.magnifier.centre is None and view.capture is None
