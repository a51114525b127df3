"""The Wayland wire protocol, spoken directly over the compositor's socket: just what deskpilot needs of it.

Why not a binding: pywayland is not packaged for Debian and needs the protocols' XML at build time; the few
requests deskpilot sends (wl_registry, wl_output and xdg-output for the monitors, the wlroots virtual pointer,
the virtual keyboard with its keymap) are fixed-layout messages, so a hundred lines of struct packing carry
them with no dependency, and each one is cheaper than spawning a tool (`wlrctl` is not in Debian 12 at all).

Message: object id (u32), then size << 16 | opcode (u32), then the arguments, each padded to 4 bytes; file
descriptors travel beside the bytes (SCM_RIGHTS). Replies are read only where deskpilot waits on them (the
registry, the outputs, a `sync`); every other event is read and dropped.
"""

from __future__ import annotations

import array
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROUNDTRIP_TIMEOUT_S = 3.0
DISPLAY_ID = 1


class WaylandError(RuntimeError):
    """The compositor cannot be reached, lacks a protocol, or answered with a protocol error."""


def socket_path(env: dict[str, str] | os._Environ[str] | None = None) -> Path:
    """The compositor's socket: $WAYLAND_DISPLAY (default wayland-0), relative to $XDG_RUNTIME_DIR."""
    env = os.environ if env is None else env
    name = env.get("WAYLAND_DISPLAY") or "wayland-0"
    if name.startswith("/"):
        return Path(name)
    runtime = env.get("XDG_RUNTIME_DIR")
    if not runtime:
        raise WaylandError("XDG_RUNTIME_DIR is not set, so the Wayland socket cannot be found")
    return Path(runtime) / name


def fixed(value: float) -> int:
    """A wl_fixed_t (24.8 signed) as the u32 the wire carries."""
    return int(round(value * 256)) & 0xFFFFFFFF


def _string(text: str) -> bytes:
    data = text.encode() + b"\0"
    return struct.pack("<I", len(data)) + data + b"\0" * (-len(data) % 4)


@dataclass(slots=True, kw_only=True)
class Output:
    """One wl_output as the compositor describes it: the mode in device px, the layout place in logical px."""

    global_name: int
    name: str = ""
    mode: tuple[int, int] | None = None  # current mode, device px
    scale: int = 1  # wl_output's integer scale
    logical: tuple[int, int, int, int] | None = None  # x, y, width, height from xdg-output


@dataclass(slots=True)
class _Waiter:
    done: threading.Event = field(default_factory=threading.Event)


class WaylandConnection:
    """One client connection. Requests may come from any thread (one lock); events are read while waiting."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or socket_path()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            self._sock.connect(str(self.path))
        except OSError as exc:
            self._sock.close()
            raise WaylandError(f"cannot connect to the Wayland compositor at {self.path}: {exc.strerror}") from exc
        self._lock = threading.RLock()
        self._next_id = 2
        self._buffer = b""
        self._handlers: dict[int, Callable[[int, bytes], None]] = {}
        self.globals: dict[str, tuple[int, int]] = {}  # interface -> (name, version); the first of each
        self.outputs: dict[int, Output] = {}
        self._error: str | None = None
        self._handlers[DISPLAY_ID] = self._on_display
        self.registry = self.new_id(self._on_registry)
        self.send(DISPLAY_ID, 1, struct.pack("<I", self.registry))  # wl_display.get_registry
        self.roundtrip()

    # -- plumbing --------------------------------------------------------------------------------------

    def new_id(self, handler: Callable[[int, bytes], None] | None = None) -> int:
        with self._lock:
            object_id = self._next_id
            self._next_id += 1
            if handler is not None:
                self._handlers[object_id] = handler
            return object_id

    def send(self, object_id: int, opcode: int, payload: bytes = b"", fds: tuple[int, ...] = ()) -> None:
        message = struct.pack("<II", object_id, (8 + len(payload)) << 16 | opcode) + payload
        with self._lock:
            try:
                if fds:
                    ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
                    self._sock.sendmsg([message], ancillary)
                else:
                    self._sock.sendall(message)
            except OSError as exc:
                raise WaylandError(f"the Wayland compositor closed the connection ({exc.strerror})") from exc

    def roundtrip(self, timeout_s: float = ROUNDTRIP_TIMEOUT_S) -> None:
        """Send wl_display.sync and read events until its callback is done: every earlier request is handled."""
        waiter = _Waiter()
        callback = self.new_id(lambda opcode, _: waiter.done.set())
        self.send(DISPLAY_ID, 0, struct.pack("<I", callback))
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while not waiter.done.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaylandError(f"the Wayland compositor did not answer within {timeout_s:g} s")
                self._read(left)
                if self._error is not None:
                    raise WaylandError(self._error)
            self._handlers.pop(callback, None)

    def _read(self, timeout_s: float) -> None:
        self._sock.settimeout(timeout_s)
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            return
        except OSError as exc:
            raise WaylandError(f"the Wayland compositor closed the connection ({exc.strerror})") from exc
        finally:
            self._sock.settimeout(None)
        if not data:
            raise WaylandError(self._error or "the Wayland compositor closed the connection")
        self._buffer += data
        while len(self._buffer) >= 8:
            object_id, word = struct.unpack_from("<II", self._buffer)
            size = word >> 16
            if size < 8 or len(self._buffer) < size:
                break
            body, self._buffer = self._buffer[8:size], self._buffer[size:]
            handler = self._handlers.get(object_id)
            if handler is not None:
                handler(word & 0xFFFF, body)

    def close(self) -> None:
        with self._lock:
            self._sock.close()

    # -- wl_display, wl_registry -----------------------------------------------------------------------

    def _on_display(self, opcode: int, body: bytes) -> None:
        if opcode == 0:  # error(object, code, message)
            object_id, code, length = struct.unpack_from("<III", body)
            message = body[12 : 12 + length - 1].decode(errors="replace")
            self._error = f"the Wayland compositor refused a request (object {object_id}, code {code}): {message}"
        elif opcode == 1:  # delete_id
            (object_id,) = struct.unpack_from("<I", body)
            self._handlers.pop(object_id, None)

    def _on_registry(self, opcode: int, body: bytes) -> None:
        if opcode != 0:  # global_remove: nothing deskpilot holds goes away mid-run that it could recover
            return
        name, length = struct.unpack_from("<II", body)
        interface = body[8 : 8 + length - 1].decode()
        (version,) = struct.unpack_from("<I", body, 8 + length + (-length % 4))
        self.globals.setdefault(interface, (name, version))
        if interface == "wl_output":
            self.outputs[name] = Output(global_name=name)

    def bind(self, interface: str, version: int, handler: Callable[[int, bytes], None] | None = None) -> int:
        """Bind the first global of `interface` at min(version, offered); WaylandError when it is not offered."""
        if interface not in self.globals:
            raise WaylandError(f"the compositor does not offer {interface}")
        name, offered = self.globals[interface]
        return self.bind_name(name, interface, min(version, offered), handler)

    def bind_name(
        self, name: int, interface: str, version: int, handler: Callable[[int, bytes], None] | None = None
    ) -> int:
        object_id = self.new_id(handler)
        payload = struct.pack("<I", name) + _string(interface) + struct.pack("<II", version, object_id)
        self.send(self.registry, 0, payload)
        return object_id

    # -- outputs ---------------------------------------------------------------------------------------

    def read_outputs(self) -> list[Output]:
        """Every output with its mode, integer scale and (where xdg-output is offered) its logical place."""
        version = min(self.globals.get("wl_output", (0, 4))[1], 4)
        bound: list[tuple[int, Output]] = []
        for name, output in self.outputs.items():
            object_id = self.bind_name(name, "wl_output", version, _output_handler(output))
            bound.append((object_id, output))
        manager = self.bind("zxdg_output_manager_v1", 3) if "zxdg_output_manager_v1" in self.globals else None
        if manager is not None:
            for object_id, output in bound:
                xdg = self.new_id(_xdg_output_handler(output))
                self.send(manager, 1, struct.pack("<II", xdg, object_id))  # get_xdg_output
        self.roundtrip()
        for object_id, _ in bound:
            if version >= 3:
                self.send(object_id, 0)  # wl_output.release
        return [output for _, output in bound]


def _output_handler(output: Output) -> Callable[[int, bytes], None]:
    def handle(opcode: int, body: bytes) -> None:
        if opcode == 1:  # mode(flags, width, height, refresh)
            flags, width, height, _ = struct.unpack_from("<IiiI", body)
            if flags & 0x1:  # current
                output.mode = (width, height)
        elif opcode == 3:  # scale
            (output.scale,) = struct.unpack_from("<i", body)
        elif opcode == 4 and not output.name:  # name (v4)
            (length,) = struct.unpack_from("<I", body)
            output.name = body[4 : 4 + length - 1].decode(errors="replace")

    return handle


def _xdg_output_handler(output: Output) -> Callable[[int, bytes], None]:
    place = [0, 0, 0, 0]

    def handle(opcode: int, body: bytes) -> None:
        if opcode == 0:  # logical_position
            place[0], place[1] = struct.unpack_from("<ii", body)
        elif opcode == 1:  # logical_size
            place[2], place[3] = struct.unpack_from("<ii", body)
        elif opcode == 3:  # name
            (length,) = struct.unpack_from("<I", body)
            output.name = body[4 : 4 + length - 1].decode(errors="replace")
        if place[2] > 0 and place[3] > 0:
            output.logical = (place[0], place[1], place[2], place[3])

    return handle
