"""The stop key, and the pause when the user's own mouse or keyboard takes over.

`StopFlag` is shared by everything that can wait or act (the loop, generation, the executor); the
`StopKeyListener` sets it from a global hotkey (pynput), `StopCommandListener` when `deskpilot stop` asks (the
stop route on Wayland, where no client hears a global key), `UserInputWatcher` pauses it when input arrives
that deskpilot did not send itself. What deskpilot sends is noted in a `SelfInputLedger` by the executor.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.display import on_display
from sandbox.errors import DriverError, PausedByUserError, StoppedError, first_line
from sandbox.keys import normalize_combo, normalize_key, split_combo

if TYPE_CHECKING:
    from sandbox.geometry import Rect  # annotations only: `deskpilot stop` starts without it (bench/stop_command.py)

DEFAULT_STOP_KEY = "ctrl+alt+x"
OWN_INPUT_WINDOW_S = 0.3  # input that arrives this long after we sent something can be our own echo
ARMED_TAIL_S = 1.0  # the user's input still counts as "while acting" this long after an action ended
OWN_POINT_TOLERANCE_PX = 1
LISTENER_JOIN_S = 2.0


class StopFlag:
    """A thread-safe stop (final) and pause (until resumed) signal, with the reason for each."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._changed = threading.Condition()
        self.reason: str | None = None
        self.pause_reason: str | None = None
        self.stopped_at: float | None = None  # time.perf_counter() of stop()

    def stop(self, reason: str = "stopped") -> None:
        with self._changed:
            if not self._stop.is_set():
                self.reason = reason
                self.stopped_at = time.perf_counter()
                self._stop.set()
            self._changed.notify_all()

    def pause(self, reason: str) -> None:
        with self._changed:
            if not self._pause.is_set():
                self.pause_reason = reason
                self._pause.set()
            self._changed.notify_all()

    def resume(self) -> None:
        with self._changed:
            self._pause.clear()
            self.pause_reason = None
            self._changed.notify_all()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return self._pause.is_set()

    def check(self) -> None:
        """Raise StoppedError (or PausedByUserError) if the run must not go on right now."""
        if self._stop.is_set():
            raise StoppedError(self.reason or "stopped")
        if self._pause.is_set():
            raise PausedByUserError(self.pause_reason or "paused")

    def check_stopped(self) -> None:
        """Raise StoppedError if the run was stopped; a pause is not a stop (thinking may go on)."""
        if self._stop.is_set():
            raise StoppedError(self.reason or "stopped")

    def sleep(self, seconds: float, *, pause_interrupts: bool = True) -> None:
        """Sleep, but wake up and raise as soon as the run is stopped (or paused, unless told otherwise)."""
        deadline = time.monotonic() + seconds
        with self._changed:
            while True:
                self.check() if pause_interrupts else self.check_stopped()
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._changed.wait(left)

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block until resumed or stopped; True when the run may go on."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while self._pause.is_set() and not self._stop.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(left)
        return not self._stop.is_set()


class SelfInputLedger:
    """What deskpilot itself sent, so that its own echo is never mistaken for the user's input."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._points: deque[tuple[float, int, int]] = deque(maxlen=512)
        self._busy_until = 0.0
        self._depth = 0
        self._armed = 0
        self._armed_until = 0.0

    def note_point(self, x: int, y: int) -> None:
        with self._lock:
            self._points.append((self._clock(), x, y))

    def acting(self) -> _Acting:
        """Context manager around every driver call: input during it (and just after) may be ours."""
        return _Acting(self)

    @contextlib.contextmanager
    def armed(self) -> Iterator[None]:
        """While armed (the agent is acting), the user's own input pauses the run."""
        with self._lock:
            self._armed += 1
        try:
            yield
        finally:
            with self._lock:
                self._armed -= 1
                self._armed_until = self._clock() + ARMED_TAIL_S

    @property
    def is_armed(self) -> bool:
        with self._lock:
            return self._armed > 0 or self._clock() < self._armed_until

    def _enter(self) -> None:
        with self._lock:
            self._depth += 1

    def _exit(self) -> None:
        with self._lock:
            self._depth -= 1
            self._busy_until = self._clock() + OWN_INPUT_WINDOW_S

    def busy(self) -> bool:
        with self._lock:
            return self._depth > 0 or self._clock() < self._busy_until

    def is_own_point(self, x: float, y: float) -> bool:
        now = self._clock()
        with self._lock:
            return any(
                now - t <= 1.0 and abs(px - x) <= OWN_POINT_TOLERANCE_PX and abs(py - y) <= OWN_POINT_TOLERANCE_PX
                for t, px, py in self._points
            )


class _Acting:
    def __init__(self, ledger: SelfInputLedger) -> None:
        self._ledger = ledger

    def __enter__(self) -> None:
        self._ledger._enter()

    def __exit__(self, *exc: object) -> None:
        self._ledger._exit()


def _stop_listeners(listeners: list[Any], display: str | None = None) -> None:
    """Stop pynput listeners and wait for their threads.

    On X11 pynput sends the RECORD disable request on the connection its own thread is blocked on; after a
    burst of events that request can sit unsent and the thread never ends. Sending it again on a fresh
    connection ends it at once.
    """
    for listener in listeners:
        listener.stop()
    deadline = time.monotonic() + 0.1  # one short wait for them all, not one each
    for listener in listeners:
        listener.join(max(0.0, deadline - time.monotonic()))
    stuck = [listener for listener in listeners if listener.is_alive() and hasattr(listener, "_context")]
    if stuck:
        try:
            from Xlib import display as xdisplay

            connection = xdisplay.Display(display)
            for listener in stuck:
                connection.record_disable_context(listener._context)
            connection.flush()
            connection.close()
        except Exception:  # the display may be gone; the threads are daemons and end with the process
            pass
    for listener in listeners:
        listener.join(LISTENER_JOIN_S)


def _key_name(key: Any, listener: Any) -> str | None:
    """deskpilot's name for a pynput key event, or None for keys it has no name for."""
    try:
        key = listener.canonical(key)
    except Exception:  # pragma: no cover - canonical() exists on every pynput backend we use
        pass
    name = getattr(key, "name", None) or getattr(key, "char", None)
    if not name:
        return None
    try:
        return normalize_key(str(name))
    except Exception:
        return None


class StopKeyListener:
    """A global hotkey (pynput) that stops the run; works while the model generates or an action runs.

    `display` (X11): where to listen; default $DISPLAY, the person's own display. Under --isolated the agent
    acts on a nested display, but the person presses the stop key on theirs.
    """

    def __init__(self, flag: StopFlag, combo: str = DEFAULT_STOP_KEY, *, display: str | None = None) -> None:
        self.flag = flag
        self.combo = combo
        self.display = display
        self.keys = frozenset(normalize_combo(split_combo(combo)))
        self._held: set[str] = set()
        self._listener: Any = None

    def start(self) -> StopKeyListener:
        try:
            with on_display(self.display):
                from pynput import keyboard
        except Exception as exc:
            raise DriverError(f"cannot listen for the stop key {self.combo}: {first_line(exc)}") from exc

        def on_press(key: Any, injected: bool = False) -> None:
            name = _key_name(key, self._listener)
            if name is not None:
                self._held.add(name)
                if self.keys <= self._held:
                    self.flag.stop(f"stop key {self.combo} pressed")

        def on_release(key: Any, injected: bool = False) -> None:
            name = _key_name(key, self._listener)
            self._held.discard(name or "")

        self._listener = keyboard.Listener(on_press=on_press, on_release=on_release)
        with on_display(self.display):  # held until the listener has connected (it connects on its own thread)
            self._listener.start()
            self._listener.wait()
        return self

    def stop(self) -> None:
        if self._listener is not None:
            _stop_listeners([self._listener], self.display)
            self._listener = None

    def __enter__(self) -> StopKeyListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class UserInputWatcher:
    """Pauses the run when the user moves the mouse, clicks, scrolls or types while the agent acts.

    Our own input is recognised by the ledger: pointer motion to a point we moved to, and key or button
    events while (or just after) a driver call. Platforms that flag injected events (Windows, macOS) are
    trusted too. `display` (X11): the display the agent acts on (default $DISPLAY). The pointer on deskpilot's
    own windows (`own_windows`: the run panel's Approve, Pause, Stop) is the person steering the run, not
    taking it over: it does not pause.
    """

    def __init__(
        self,
        flag: StopFlag,
        ledger: SelfInputLedger,
        *,
        auto_resume_after_s: float | None = None,
        display: str | None = None,
        own_windows: Callable[[], Sequence[Rect]] = tuple,
    ) -> None:
        self.flag = flag
        self.ledger = ledger
        self.display = display
        self.own_windows = own_windows
        self.auto_resume_after_s = auto_resume_after_s  # None: only an explicit resume() (the window's button)
        self.last_user_input = 0.0
        self._listeners: list[Any] = []
        self._resumer: threading.Thread | None = None
        self._closing = threading.Event()

    def _user(self, what: str, at: tuple[float, float] | None = None) -> None:
        self.last_user_input = time.monotonic()
        if not self.ledger.is_armed:
            return
        if at is not None and any(rect.contains(*at) for rect in self.own_windows()):
            return  # on deskpilot's own window: steering the run, not taking it over
        self.flag.pause(f"paused: you used the {what} while deskpilot was acting")

    def _auto_resume(self) -> None:
        """Resume a paused run once the user has left mouse and keyboard alone for a while."""
        assert self.auto_resume_after_s is not None
        while not self._closing.wait(0.1):
            idle = time.monotonic() - self.last_user_input
            if self.flag.paused and not self.flag.stopped and idle >= self.auto_resume_after_s:
                self.flag.resume()

    def start(self) -> UserInputWatcher:
        try:
            with on_display(self.display):
                from pynput import keyboard, mouse
        except Exception as exc:
            raise DriverError(f"cannot watch for user input: {first_line(exc)}") from exc

        def on_move(x: float, y: float, injected: bool = False) -> None:
            if not injected and not self.ledger.is_own_point(x, y):
                self._user("mouse", (x, y))

        def on_click(x: float, y: float, button: Any, pressed: bool, injected: bool = False) -> None:
            if not injected and not (self.ledger.busy() and self.ledger.is_own_point(x, y)):
                self._user("mouse", (x, y))

        def on_scroll(x: float, y: float, dx: int, dy: int, injected: bool = False) -> None:
            if not injected and not (self.ledger.busy() and self.ledger.is_own_point(x, y)):
                self._user("mouse wheel", (x, y))

        def on_key(key: Any, injected: bool = False) -> None:
            if not injected and not self.ledger.busy():
                self._user("keyboard")

        self._listeners = [
            mouse.Listener(on_move=on_move, on_click=on_click, on_scroll=on_scroll),
            keyboard.Listener(on_press=on_key),
        ]
        with on_display(self.display):  # held until both listeners have connected
            for listener in self._listeners:
                listener.start()
            for listener in self._listeners:
                listener.wait()
        if self.auto_resume_after_s is not None:
            self._closing.clear()
            self._resumer = threading.Thread(target=self._auto_resume, name="deskpilot-resume", daemon=True)
            self._resumer.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        if self._resumer is not None:
            self._resumer.join(LISTENER_JOIN_S)
            self._resumer = None
        _stop_listeners(self._listeners, self.display)
        self._listeners = []

    def __enter__(self) -> UserInputWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- `deskpilot stop`: a stop from another process -------------------------------------------------------
#
# Ordinary clients cannot grab a global key on Wayland, so a run also listens on a Unix socket of its own in a
# folder only this user can enter; `deskpilot stop` (bound to a key in the compositor's config) connects to each
# and the listener sets the flag before it answers. A socket, not a signal: the window's runs act on a worker
# thread, where no signal handler can be installed. Peers of another user are refused by their credentials.

STOP_REQUEST, STOP_REPLY = b"stop\n", b"stopped\n"
STOP_REASON = "stopped by `deskpilot stop`"
STOP_CONNECT_S = 1.0


def runs_dir() -> Path:
    """Where runs' stop sockets live: $XDG_RUNTIME_DIR/deskpilot, else a private folder under the temp dir."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "deskpilot"
    import tempfile  # only here: `deskpilot stop` from a key binding starts without it where the runtime dir is

    return Path(tempfile.gettempdir()) / f"deskpilot-{os.getuid()}"


def _private_dir() -> Path:
    folder = runs_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise DriverError(f"cannot listen for `deskpilot stop`: {folder} is not private to this user")
    return folder


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


class StopCommandListener:
    """Sets `flag` when `deskpilot stop` connects to this run's socket; a `with` block listens."""

    _counter = itertools.count(1)

    def __init__(self, flag: StopFlag) -> None:
        self.flag = flag
        self.path: Path | None = None
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> StopCommandListener:
        folder = _private_dir()
        self.path = folder / f"{os.getpid()}-{next(self._counter)}.sock"
        binding = self.path.with_suffix(".binding")  # renamed once listening: a .sock always answers
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            binding.unlink(missing_ok=True)
            server.bind(str(binding))
            server.listen(8)
            binding.rename(self.path)
        except OSError as exc:
            server.close()
            raise DriverError(f"cannot listen for `deskpilot stop` at {self.path}: {exc.strerror}") from exc
        self._server = server
        self._thread = threading.Thread(target=self._serve, name="deskpilot-stop-command", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        server = self._server
        assert server is not None
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # shut down by stop()
                return
            with conn:
                try:
                    conn.settimeout(STOP_CONNECT_S)
                    if _peer_uid(conn) != os.getuid() or conn.recv(64) != STOP_REQUEST:
                        continue
                    self.flag.stop(STOP_REASON)
                    conn.sendall(STOP_REPLY)
                except OSError:
                    continue

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
            self._server.close()
            self._server = None
        if self._thread is not None:
            self._thread.join(LISTENER_JOIN_S)
            self._thread = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None

    def __enter__(self) -> StopCommandListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_runs(*, timeout_s: float = STOP_CONNECT_S) -> int:
    """Stop every run of this user that listens for `deskpilot stop`; how many said they stopped. Sockets
    nobody listens on any more (a run that was killed) are removed."""
    folder = runs_dir()
    stopped = 0
    for path in sorted(folder.glob("*.sock")) if folder.is_dir() else []:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(timeout_s)
            try:
                sock.connect(str(path))
            except (ConnectionRefusedError, FileNotFoundError):
                if not _alive(path.name.split("-")[0]):
                    path.unlink(missing_ok=True)
                continue
            except OSError:
                continue
            try:
                sock.sendall(STOP_REQUEST)
                if sock.recv(64) == STOP_REPLY:
                    stopped += 1
            except OSError:
                continue
    return stopped


def _alive(pid: str) -> bool:
    """Whether the process `pid` (a stop socket's name) still runs; a name that is no pid counts as gone."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
