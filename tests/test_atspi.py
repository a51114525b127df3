"""The accessibility tree beside the pixels (issue 19, items 1-3): `deskpilot inspect` and the tree it reads.

Real apps on the test display, each on a private D-Bus session with its own AT-SPI bus (tests/helpers/
atspi_bus.py): a GTK3 form (system python3 with python3-gi), a Qt window (PySide6), and Tk, which publishes
no tree. The apps print where their toolkit placed each widget; the tree's boxes must agree within 2 px.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.accessibility import X11WindowAt, open_tree
from sandbox.accessibility.names import state_names
from sandbox.accessibility.tree import AccessibilityTree
from tests.helpers.atspi_bus import AtspiSession
from tests.helpers.cli import DESKPILOT
from tests.helpers.entry_apps import AppUnavailable

TOLERANCE_PX = 2


def inspect(session: AtspiSession, point: tuple[int, int], *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DESKPILOT), "inspect", f"{point[0]},{point[1]}", *extra],
        capture_output=True,
        text=True,
        timeout=60,
        env={**session.env, **env},
    )


def assert_near(box: list[int] | tuple[int, ...], expected: tuple[int, int, int, int]) -> None:
    assert all(abs(a - b) <= TOLERANCE_PX for a, b in zip(box, expected)), (box, expected)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[AtspiSession]:
    try:
        with AtspiSession(os.environ["DISPLAY"], tmp_path) as started:
            yield started
    except AppUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def tree(session: AtspiSession) -> Iterator[AccessibilityTree]:
    window_at = X11WindowAt(session.display)
    opened = open_tree(session_address=session.env["DBUS_SESSION_BUS_ADDRESS"], window_at=window_at, budget_s=2.0)
    assert opened is not None
    yield opened
    opened.bus.close()
    window_at.close()


@pytest.mark.display
@pytest.mark.parametrize("button", ["Save", "Bold"])  # Bold shows only an icon: its name is the accessible one
def test_inspect_names_a_gtk_button_with_its_box(session: AtspiSession, button: str) -> None:
    app = session.app("gtk")
    session.wait_until_published(app.process.pid)
    done = inspect(session, app.centre(button), "--json")
    assert done.returncode == 0, done.stderr
    element = json.loads(done.stdout)
    assert (element["role"], element["name"], element["source"]) == ("push button", button, "atspi")
    assert_near(element["box"], app.box(button))
    assert element["window"] == "deskpilot gtk form"
    assert element["app"] == "gtk_app.py"
    assert {"showing", "enabled"} <= set(element["states"])


@pytest.mark.display
def test_inspect_reads_an_entry_with_its_label_and_text(session: AtspiSession) -> None:
    app = session.app("gtk", args=("--last-name", "Lovelace"))
    session.wait_until_published(app.process.pid)
    done = inspect(session, app.centre("Last name entry"), "--json")
    assert done.returncode == 0, done.stderr
    element = json.loads(done.stdout)
    # GTK gives the entry no name of its own: the label it is labelled by names it
    assert (element["role"], element["name"], element["text"]) == ("text", "Last name", "Lovelace")
    assert "editable" in element["states"]
    assert_near(element["box"], app.box("Last name entry"))


@pytest.mark.display
def test_inspect_converts_gtk_logical_pixels_under_hidpi(session: AtspiSession) -> None:
    app = session.app("gtk", x=100, y=100, GDK_SCALE="2")
    assert app.ready["scale"] == 2
    session.wait_until_published(app.process.pid)
    done = inspect(session, app.centre("Save"), "--json")
    assert done.returncode == 0, done.stderr
    element = json.loads(done.stdout)
    assert element["name"] == "Save"
    assert_near(element["box"], app.box("Save"))  # physical px: GTK's logical ones times 2


@pytest.mark.display
def test_inspect_names_a_qt_button_with_its_box(session: AtspiSession) -> None:
    app = session.app("qt", QT_LINUX_ACCESSIBILITY_ALWAYS_ON="1")
    session.wait_until_published(app.process.pid)
    done = inspect(session, app.centre("Save"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("push button 'Save' ["), done.stdout
    element = json.loads(inspect(session, app.centre("Save"), "--json").stdout)
    assert_near(element["box"], app.box("Save"))
    assert element["window"] == "deskpilot qt form"


@pytest.mark.display
def test_inspect_turns_accessibility_on_and_qt_publishes(session: AtspiSession) -> None:
    assert session.status("IsEnabled") is False  # a fresh session: no assistive technology announced
    app = session.app("qt")  # no QT_LINUX_ACCESSIBILITY_ALWAYS_ON: Qt waits for the announcement
    done = inspect(session, app.centre("Cancel"), "--json")
    assert "accessibility was off: turned it on (org.a11y.Status IsEnabled)" in done.stderr
    assert session.status("IsEnabled") is True
    assert session.status("ScreenReaderEnabled") is False  # it would start Orca on GNOME: never set unasked
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["name"] == "Cancel"
    again = inspect(session, app.centre("Cancel"))
    assert again.returncode == 0 and "turned it on" not in again.stderr


@pytest.mark.display
def test_inspect_on_tk_exits_2_even_over_an_accessible_window(session: AtspiSession) -> None:
    gtk = session.app("gtk", x=200, y=200)
    session.wait_until_published(gtk.process.pid)
    point = gtk.centre("Save")
    tk = session.app("tk", x=point[0] - 100, y=point[1] - 60)  # 520x120, on top of the GTK form, over Save
    window_at = X11WindowAt(session.display)
    on_top = window_at(*point)
    window_at.close()
    assert on_top is not None and on_top.title == "deskpilot tk entry"  # Tk sets no _NET_WM_PID: matched by box
    done = inspect(session, point)
    assert done.returncode == 2
    assert done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [done.stderr.splitlines()[-1]]  # one line (after the log's "turned it on")
    assert errors[0].startswith(f"error: no accessibility tree answers at {point[0]},{point[1]}")
    tk.close()  # the GTK button is on top again: the tree answers
    assert inspect(session, point).stdout.startswith("push button 'Save'")


@pytest.mark.display
def test_inspect_without_an_accessibility_bus_exits_2(session: AtspiSession, tmp_path: Path) -> None:
    done = inspect(session, (10, 10), DBUS_SESSION_BUS_ADDRESS=f"unix:path={tmp_path / 'no-bus'}")
    assert done.returncode == 2
    assert "no accessibility bus" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("error: no accessibility tree at 10,10")


def test_inspect_refuses_a_malformed_point() -> None:
    done = subprocess.run([str(DESKPILOT), "inspect", "12;40"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "X,Y" in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.display
def test_walk_lists_every_widget_with_its_box(session: AtspiSession, tree: AccessibilityTree) -> None:
    app = session.app("gtk")
    session.wait_until_published(app.process.pid)
    [gtk] = [a for a in tree.applications() if a.pid == app.process.pid]
    [window] = tree.windows(gtk)
    elements = tree.walk(window)
    assert elements[0] == window
    named = {(e.role, e.name): e.box for e in elements}
    for name in ("Save", "Bold", "Delete", "Cancel"):
        box = named[("push button", name)]
        assert_near((box.x, box.y, box.width, box.height), app.box(name))
    assert ("label", "First name") in named
    assert all("showing" in e.states for e in elements)


@pytest.mark.display
def test_element_at_a_point_off_every_window_is_none(session: AtspiSession, tree: AccessibilityTree) -> None:
    app = session.app("gtk", x=200, y=200)
    session.wait_until_published(app.process.pid)
    assert tree.element_at(1900, 1060) is None  # the bare root window
    element = tree.element_at(*app.centre("Delete"))
    assert element is not None and element.describe() == "push button 'Delete'"


def test_state_bits_are_named() -> None:
    # GTK's frame above: enabled (8), resizable (21), sensitive (24), showing (25), visible (30)
    assert state_names([1126170880, 0]) == ("enabled", "resizable", "sensitive", "showing", "visible")
    assert state_names([0, 1 << 11]) == ("read only",)  # 43, in the second word
    assert state_names([0, 1 << 31]) == ()  # a state newer than this table is skipped, not misnamed
