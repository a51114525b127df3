"""The accessibility tree read over AT-SPI's D-Bus interfaces: applications, windows, the element at a point, and
a window's walk.

Boxes are in physical screen pixels (X root pixels: deskpilot's screen space on X11). Toolkits are asked for
screen coordinates (`COORDS_SCREEN`); GTK 3 answers in its logical pixels, so its boxes are multiplied by the
app's scale (GDK_SCALE from the process's environment: an integer, as GTK 3 allows) and points divided by it.
GNOME's own scaling setting (XSETTINGS Gdk/WindowScalingFactor) is not read: there a GTK 3 app's boxes come out
at half size and the window match below fails, so the tree answers None and pixels decide (the safe side).

Which app is at a point: the desktop says which top-level window is on top there and whose process owns it
(`window_at`, sandbox/accessibility/x11.py on X11), and only that process's windows are asked. Without it,
every application's showing windows that contain the point are candidates, the active one first, then the
smallest (a dialog over its main window). A window that publishes no tree (Tk, xterm) is on top: None, even
when an accessible window lies under it.

Bounded work: one lookup is a few round trips from the window down (`GetAccessibleAtPoint`, at most MAX_DEPTH
levels), all within `budget_s`; past it the lookup gives up (None, pixels decide). A walk keeps to showing
elements, MAX_DEPTH levels and MAX_WIDTH children per element, like the OSWorld environment's tree reader.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from sandbox.accessibility.bus import AccessibilityBus, Call, TreeError, open_bus
from sandbox.accessibility.names import (
    COORDS_SCREEN,
    NULL_PATH,
    REGISTRY,
    RELATION_LABELLED_BY,
    ROOT_PATH,
    state_names,
)
from sandbox.accessibility.x11 import TopWindow
from sandbox.geometry import Rect

ACCESSIBLE, COMPONENT, TEXT, APPLICATION = (
    f"org.a11y.atspi.{n}" for n in ("Accessible", "Component", "Text", "Application")
)
MAX_DEPTH = 50  # levels followed below a window (lookups and walks)
MAX_WIDTH = 1024  # children of one element a walk follows
MAX_WALK_ELEMENTS = 20_000  # elements one walk returns at most
MAX_TEXT_CHARS = 4096  # text read from one element
LOOKUP_BUDGET_S = 0.1  # one element at a point; the aim is under 30 ms on a typical window
WALK_BUDGET_S = 2.0  # one window's walk
WINDOW_MATCH_PX = 2  # an accessible window "is" a top-level window when their boxes agree this closely
SECRET_ROLES = ("password text",)  # their text is never read


@dataclass(frozen=True, kw_only=True)
class Application:
    """An application on the accessibility bus."""

    name: str
    bus_name: str
    toolkit: str
    pid: int | None
    scale: int  # the toolkit's logical pixels -> physical screen pixels


@dataclass(frozen=True, kw_only=True)
class Element:
    """One accessible element, as a screen reader sees it; `box` in physical screen px."""

    role: str
    name: str
    description: str
    states: tuple[str, ...]
    box: Rect
    text: str | None  # what a text element holds (None for others and for password fields)
    app: str
    window: str
    bus_name: str  # where the element lives on the accessibility bus (for later calls on it)
    path: str
    # the names of the elements that label it (AT-SPI's labelled-by relation; read by `walk(..., full=True)`)
    labelled_by: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "name": self.name,
            "description": self.description,
            "states": list(self.states),
            "text": self.text,
            "box": [self.box.x, self.box.y, self.box.width, self.box.height],
            "app": self.app,
            "window": self.window,
            "source": "atspi",
        }

    def describe(self) -> str:
        """How a person would say it: push button 'Save'."""
        return f"{self.role} {self.name!r}" if self.name else self.role


class AccessibilityTree:
    """Reads the tree through one bus connection (one thread at a time)."""

    def __init__(
        self,
        bus: AccessibilityBus,
        *,
        window_at: Callable[[int, int], TopWindow | None] | None = None,
        budget_s: float = LOOKUP_BUDGET_S,
    ) -> None:
        self.bus = bus
        self._window_at = window_at
        self.budget_s = budget_s
        self._apps: dict[str, Application] = {}  # by bus name: an app's toolkit, pid and scale do not change

    def applications(self, *, deadline: float | None = None) -> list[Application]:
        deadline = deadline if deadline is not None else time.monotonic() + WALK_BUDGET_S
        children = self.bus.call(
            Call(bus_name=REGISTRY, path=ROOT_PATH, interface=ACCESSIBLE, method="GetChildren"), deadline=deadline
        )
        names = [bus_name for bus_name, _ in children]
        for bus_name in names:
            if bus_name not in self._apps:
                self._apps[bus_name] = self._application(bus_name, deadline)
        return [self._apps[name] for name in names]

    def windows(self, app: Application, *, deadline: float | None = None) -> list[Element]:
        """An application's top-level windows (frames, dialogs), showing or not."""
        deadline = deadline if deadline is not None else time.monotonic() + WALK_BUDGET_S
        return self._windows([app], deadline).get(app.bus_name, [])

    def element_at(self, x: int, y: int) -> Element | None:
        """The deepest element at screen point (x, y), or None: no tree answers there (an app without one is on
        top, or nothing is) or it did not answer within the budget."""
        deadline = time.monotonic() + self.budget_s
        try:
            return self._element_at(x, y, deadline)
        except TimeoutError:
            logger.debug(f"the accessibility tree took over {self.budget_s * 1000:.0f} ms at {x},{y}: pixels decide")
        except TreeError as exc:  # the window closed while it was read
            logger.debug(f"the accessibility tree failed at {x},{y}: {exc}")
        return None

    def showing_windows(self, *, except_pid: int | None = None, budget_s: float = WALK_BUDGET_S) -> list[Element]:
        """Every application's showing, not iconified windows (`except_pid`'s left out: deskpilot's own)."""
        deadline = time.monotonic() + budget_s
        apps = [app for app in self.applications(deadline=deadline) if except_pid is None or app.pid != except_pid]
        return [
            window
            for app_windows in self._windows(apps, deadline).values()
            for window in app_windows
            if "showing" in window.states and "iconified" not in window.states
        ]

    def walk(self, window: Element, *, budget_s: float = WALK_BUDGET_S, full: bool = False) -> list[Element]:
        """Every showing element of a window with its box (the window first), breadth first, within the caps;
        what was read when the budget runs out. `full`: also what text elements hold (not password fields) and
        the names of the elements labelling each (the labelled-by relation), for finding a field by its label."""
        deadline = time.monotonic() + budget_s
        app = self._apps.get(window.bus_name) or self._application(window.bus_name, deadline)
        found: list[Element] = []
        level = [window.path]
        try:
            for _ in range(MAX_DEPTH):
                children = self._children(window.bus_name, level, deadline)
                paths = [path for kids in children for path in kids[:MAX_WIDTH]]
                paths = paths[: MAX_WALK_ELEMENTS - len(found)]
                if full:
                    showing = self._describe_full(app, window.bus_name, paths, window=window.name, deadline=deadline)
                else:
                    elements = self._describe(app, window.bus_name, paths, window=window.name, deadline=deadline)
                    showing = [e for e in elements if e is not None and "showing" in e.states]
                found.extend(showing)
                level = [e.path for e in showing]
                if not level or len(found) >= MAX_WALK_ELEMENTS:
                    break
            if full:
                found = self._label_names(found, deadline)
        except TimeoutError:
            logger.debug(f"walk of {window.describe()} stopped at its {budget_s:.1f} s budget")
        return [window, *found]

    def _describe_full(
        self, app: Application, bus_name: str, paths: Sequence[str], *, window: str, deadline: float
    ) -> list[Element]:
        """The showing elements of `paths` with their text (text elements, password fields left out) and the paths
        of their labels (in `labelled_by` until `_label_names` names them)."""
        calls = [call for path in paths for call in _detail_calls(bus_name, path, full=True)]
        answers = self.bus.call_many(calls, deadline=deadline)
        width = len(calls) // len(paths) if paths else 0
        showing: list[tuple[Element, list[Any]]] = []
        for index, path in enumerate(paths):
            details = answers[index * width : (index + 1) * width]
            element = _element(app, bus_name, path, details, window=window)
            if element is not None and "showing" in element.states:
                showing.append((element, details[5:]))
        texts: list[Call] = []
        readers: list[int] = []
        for index, (element, (interfaces, _, count)) in enumerate(showing):
            readable = not isinstance(interfaces, TreeError) and TEXT in interfaces and not isinstance(count, TreeError)
            if readable and element.role not in SECRET_ROLES:
                body = (0, min(int(count), MAX_TEXT_CHARS))
                texts.append(Call(bus_name=bus_name, path=element.path, interface=TEXT, method="GetText",
                                  signature="ii", body=body))  # fmt: skip
                readers.append(index)
        read = dict(zip(readers, self.bus.call_many(texts, deadline=deadline)))
        done = []
        for index, (element, (_, relations, _)) in enumerate(showing):
            labels: tuple[str, ...] = ()
            if not isinstance(relations, TreeError):
                labels = tuple(
                    f"{target[0]}\0{target[1]}"
                    for kind, targets in relations
                    if kind == RELATION_LABELLED_BY
                    for target in targets
                )
            text = read.get(index)
            done.append(
                Element(
                    **{
                        **_fields(element),
                        "text": None if text is None or isinstance(text, TreeError) else str(text),
                        "labelled_by": labels,
                    }
                )
            )
        return done

    def _label_names(self, found: list[Element], deadline: float) -> list[Element]:
        """`labelled_by` from the labels' bus names and paths to their names: those walked already, else asked."""
        names = {f"{e.bus_name}\0{e.path}": e.name for e in found}
        missing = sorted({key for e in found for key in e.labelled_by if key not in names})
        calls = [Call.get(bus_name, path, ACCESSIBLE, "Name") for bus_name, path in (k.split("\0", 1) for k in missing)]
        for key, name in zip(missing, self.bus.call_many(calls, deadline=deadline)):
            names[key] = "" if isinstance(name, TreeError) else str(name)
        return [
            Element(**{**_fields(e), "labelled_by": tuple(n for key in e.labelled_by if (n := names[key]))})
            if e.labelled_by
            else e
            for e in found
        ]

    def _element_at(self, x: int, y: int, deadline: float) -> Element | None:
        top = self._window_at(x, y) if self._window_at is not None else None
        if self._window_at is not None and top is None:
            return None  # no window there (the bare root)
        apps = self.applications(deadline=deadline)
        if top is not None and top.pid is not None:
            apps = [app for app in apps if app.pid == top.pid]
        candidates = []
        for app_windows in self._windows(apps, deadline).values():
            for window in app_windows:
                if "showing" not in window.states or "iconified" in window.states or not window.box.contains(x, y):
                    continue
                if top is not None and top.pid is None and not _same_window(window.box, top):
                    continue
                candidates.append(window)
        # the top-level window itself first, then the active one, then the smallest (a dialog over its main window)
        candidates.sort(
            key=lambda w: (
                top is not None and not _same_window(w.box, top),
                "active" not in w.states,
                w.box.width * w.box.height,
            )
        )
        for window in candidates:
            element = self._descend(self._apps[window.bus_name], window, x, y, deadline)
            if element is not None:
                return element
        return None

    def _descend(self, app: Application, window: Element, x: int, y: int, deadline: float) -> Element | None:
        """From a window down to the deepest element at (x, y): one small call per level, then the details of
        the element found in one batch (asking for every level's details on the way costs more than it saves)."""
        path = window.path
        for _ in range(MAX_DEPTH):
            at_point = Call(
                bus_name=window.bus_name,
                path=path,
                interface=COMPONENT,
                method="GetAccessibleAtPoint",
                signature="iiu",
                body=(x // app.scale, y // app.scale, COORDS_SCREEN),
            )
            try:
                _, child = self.bus.call(at_point, deadline=deadline)
            except TreeError:  # no Component here: the element itself is the answer
                break
            if child in (NULL_PATH, path):
                break
            path = child
        details = self.bus.call_many(_detail_calls(window.bus_name, path, full=True), deadline=deadline)
        element = _element(app, window.bus_name, path, details, window=window.name)
        return None if element is None else self._complete(element, details[5:], deadline)

    def _application(self, bus_name: str, deadline: float) -> Application:
        name, toolkit, version = self.bus.call_many(
            [
                Call.get(bus_name, ROOT_PATH, ACCESSIBLE, "Name"),
                Call.get(bus_name, ROOT_PATH, APPLICATION, "ToolkitName"),
                Call.get(bus_name, ROOT_PATH, APPLICATION, "Version"),
            ],
            deadline=deadline,
        )
        pid = self.bus.pid_of(bus_name, deadline=deadline)
        toolkit = "" if isinstance(toolkit, TreeError) else str(toolkit)
        version = "" if isinstance(version, TreeError) else str(version)
        scale = _gdk_scale(pid) if toolkit.lower() == "gtk" and version.startswith("3.") else 1
        return Application(
            name="" if isinstance(name, TreeError) else str(name),
            bus_name=bus_name,
            toolkit=toolkit,
            pid=pid,
            scale=scale,
        )

    def _windows(self, apps: Sequence[Application], deadline: float) -> dict[str, list[Element]]:
        found: dict[str, list[Element]] = {}
        for app, children in zip(apps, self._children_of_roots(apps, deadline)):
            elements = self._describe(app, app.bus_name, children, window="", deadline=deadline)
            found[app.bus_name] = [Element(**{**_fields(e), "window": e.name}) for e in elements if e is not None]
        return found

    def _children_of_roots(self, apps: Sequence[Application], deadline: float) -> list[list[str]]:
        calls = [Call(bus_name=a.bus_name, path=ROOT_PATH, interface=ACCESSIBLE, method="GetChildren") for a in apps]
        answers = self.bus.call_many(calls, deadline=deadline)
        return [[] if isinstance(kids, TreeError) else [path for _, path in kids] for kids in answers]

    def _children(self, bus_name: str, paths: Sequence[str], deadline: float) -> list[list[str]]:
        calls = [Call(bus_name=bus_name, path=p, interface=ACCESSIBLE, method="GetChildren") for p in paths]
        answers = self.bus.call_many(calls, deadline=deadline)
        return [[] if isinstance(kids, TreeError) else [path for _, path in kids] for kids in answers]

    def _describe(
        self,
        app: Application,
        bus_name: str,
        paths: Sequence[str],
        *,
        window: str,
        deadline: float,
    ) -> list[Element | None]:
        """Elements for some paths of one app, read in one pipelined batch (None for one that went away)."""
        calls = [call for path in paths for call in _detail_calls(bus_name, path, full=False)]
        answers = self.bus.call_many(calls, deadline=deadline)
        width = len(calls) // len(paths) if paths else 0
        return [
            _element(app, bus_name, path, answers[index * width : (index + 1) * width], window=window)
            for index, path in enumerate(paths)
        ]

    def _complete(self, element: Element, extra: list[Any], deadline: float) -> Element:
        """Add a text element's text, and the label's name to an element that has none of its own."""
        interfaces, relations, count = extra
        text, name = None, element.name
        readable = not isinstance(interfaces, TreeError) and TEXT in interfaces and not isinstance(count, TreeError)
        if readable and element.role not in SECRET_ROLES:
            get_text = Call(
                bus_name=element.bus_name,
                path=element.path,
                interface=TEXT,
                method="GetText",
                signature="ii",
                body=(0, min(int(count), MAX_TEXT_CHARS)),
            )
            text = str(self.bus.call(get_text, deadline=deadline))
        if not name and not isinstance(relations, TreeError):
            labels = [target for kind, targets in relations if kind == RELATION_LABELLED_BY for target in targets]
            if labels:
                bus_name, path = labels[0]
                name = str(self.bus.call(Call.get(bus_name, path, ACCESSIBLE, "Name"), deadline=deadline))
        return Element(**{**_fields(element), "text": text, "name": name})


def _detail_calls(bus_name: str, path: str, *, full: bool) -> list[Call]:
    """What one element is: role, states, box, name, description; `full`: also its interfaces, relations and
    character count (an error answer where it has no text), for its text and its label's name."""
    calls = [
        Call(bus_name=bus_name, path=path, interface=ACCESSIBLE, method="GetRoleName"),
        Call(bus_name=bus_name, path=path, interface=ACCESSIBLE, method="GetState"),
        Call(
            bus_name=bus_name, path=path, interface=COMPONENT, method="GetExtents", signature="u", body=(COORDS_SCREEN,)
        ),
        Call.get(bus_name, path, ACCESSIBLE, "Name"),
        Call.get(bus_name, path, ACCESSIBLE, "Description"),
    ]
    if full:
        calls += [
            Call(bus_name=bus_name, path=path, interface=ACCESSIBLE, method="GetInterfaces"),
            Call(bus_name=bus_name, path=path, interface=ACCESSIBLE, method="GetRelationSet"),
            Call.get(bus_name, path, TEXT, "CharacterCount"),
        ]
    return calls


def _element(app: Application, bus_name: str, path: str, answers: Sequence[Any], *, window: str) -> Element | None:
    """The element from `_detail_calls`' first five answers (None when it went away)."""
    role, states, extents, name, description = answers[:5]
    if isinstance(role, TreeError) or isinstance(states, TreeError):
        return None
    return Element(
        role=str(role),
        name="" if isinstance(name, TreeError) else str(name),
        description="" if isinstance(description, TreeError) else str(description),
        states=state_names(states),
        box=Rect(0, 0, 0, 0) if isinstance(extents, TreeError) else _scaled(extents, app.scale),
        text=None,
        app=app.name,
        window=window,
        bus_name=bus_name,
        path=path,
    )


def open_tree(
    *,
    a11y_address: str | None = None,
    session_address: str | None = None,
    window_at: Callable[[int, int], TopWindow | None] | None = None,
    budget_s: float = LOOKUP_BUDGET_S,
) -> AccessibilityTree | None:
    """The tree of this desktop with accessibility turned on, or None (said once) when there is no bus."""
    bus = open_bus(a11y_address=a11y_address, session_address=session_address)
    return None if bus is None else AccessibilityTree(bus, window_at=window_at, budget_s=budget_s)


def _fields(element: Element) -> dict[str, Any]:
    return {name: getattr(element, name) for name in Element.__dataclass_fields__}


def _scaled(extents: Sequence[int], scale: int) -> Rect:
    x, y, width, height = (int(v) * scale for v in extents)
    return Rect(x, y, width, height)


def _same_window(box: Rect, top: TopWindow) -> bool:
    """An accessible window's box is the top-level window's (its frame, or the client inside the frame)."""
    return any(
        max(abs(box.x - r.x), abs(box.y - r.y), abs(box.width - r.width), abs(box.height - r.height)) <= WINDOW_MATCH_PX
        for r in (top.frame, top.client)
    )


def _gdk_scale(pid: int | None) -> int:
    """GDK_SCALE in a GTK 3 process's environment (1 when unset, unreadable or not a whole number >= 1)."""
    if pid is None:
        return 1
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return 1
    for entry in environ:
        if entry.startswith(b"GDK_SCALE="):
            value = entry.removeprefix(b"GDK_SCALE=")
            return int(value) if value.isdigit() and int(value) >= 1 else 1
    return 1
