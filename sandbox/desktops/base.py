"""What deskpilot needs of a desktop, as one small interface: X11 was its first route, wlroots Wayland the second
(sandbox/desktops/wlroots.py), GNOME/KDE Wayland and Windows the next.

A route does not act by itself; it makes the parts that do, and app/desktop.py (the composition root) opens
them in order and closes them in reverse:
- `capture()`: the screen: the monitors with their measured scales, a grab of one, where the pointer is;
- `driver(name)`: pointer and key input and typed text, one primitive at a time ("dry-run" records only);
- `stacking()`: which parts of deskpilot's own windows are really visible (None where the desktop cannot say);
- `stop_route(flag, combo)`: the stop key, heard on the person's own desktop even when the agent acts on another
  (None where there is no keyboard to listen to);
- `user_input_watcher(...)`: pauses the run when the person's own input arrives on the acting desktop.

mss, Xlib, pynput and pyautogui are imported inside the parts (they fail at import without a display): importing a
route has no side effects.
Windows' capture exclusion (app/gui/run/capture_exclusion.py: SetWindowDisplayAffinity on a native window) is
Windows' answer to what X11 does with `stacking()` and the screenshot mask; it moves into the Windows route when
that route lands. X11 has no such mechanism: every client reads the same framebuffer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sandbox.capture import Screenshot
    from sandbox.drivers import InputDriver
    from sandbox.geometry import Rect, ScreenGeometry
    from sandbox.stop import SelfInputLedger, StopFlag


class ScreenSource(Protocol):
    """A desktop's screen; usable from any thread; `close()` releases what it holds."""

    def geometry(self) -> ScreenGeometry: ...
    def grab(self, monitor: int = 0, *, mask: Sequence[Rect] = ()) -> Screenshot: ...
    def pointer(self) -> tuple[int, int] | None: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class TopWindow:
    """One viewable top-level window that takes clicks somewhere (a click-through overlay does not count)."""

    id: int  # the child of the root: the window manager's frame, or the window itself
    rect: Rect  # frame included, in root (screen) pixels
    clicks: tuple[Rect, ...]  # where it takes clicks: `rect`, or its input shape (sandbox/desktops/x11_stacking.py)
    deskpilot_pid: int | None  # the mark: a window of a deskpilot process (any process), None for any other
    focused: bool  # it holds the keyboard focus
    title: str = ""  # the application's title for it (_NET_WM_NAME, else WM_NAME); "" when it has none


class WindowStacking(Protocol):
    """The desktop's windows in stacking order: which parts of some windows (by the desktop's window ids) no other
    window covers, every top-level window with its place and mark, and the parts of every deskpilot window."""

    def visible_parts(self, windows: Sequence[int], *, ignore: Sequence[int] = ()) -> dict[int, list[Rect]]: ...
    def top_windows(self) -> list[TopWindow]: ...
    def deskpilot_parts(self, *, except_pid: int | None = None) -> list[Rect]: ...
    def close(self) -> None: ...


class Listening(Protocol):
    """A listener that runs while its `with` block does."""

    def __enter__(self) -> object: ...
    def __exit__(self, *exc: object) -> None: ...


class DesktopRoute(Protocol):
    """One way to reach a desktop: the parts deskpilot acts through, made on demand."""

    @property
    def name(self) -> str:
        """Which route: "x11", "wlroots", "dry-run", "refused" (later "mutter", "portal", "windows")."""
        ...

    def capture(self) -> ScreenSource: ...

    def driver(self, name: str) -> InputDriver:
        """An input driver by name (sandbox/drivers.py DRIVER_NAMES); DriverError for one this route lacks."""
        ...

    def stacking(self) -> WindowStacking | None: ...

    def stop_route(self, flag: StopFlag, combo: str) -> Listening | None: ...

    def user_input_watcher(
        self,
        flag: StopFlag,
        ledger: SelfInputLedger,
        *,
        auto_resume_after_s: float | None,
        own_windows: Callable[[], Sequence[Rect]],
    ) -> Listening | None: ...
