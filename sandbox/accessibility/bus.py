"""The accessibility bus: finding it, turning accessibility on, and calls with a deadline.

Where the bus is: `AT_SPI_BUS_ADDRESS` when the caller passes it (libatspi honours it too), else the session bus's
`org.a11y.Bus.GetAddress` (at-spi-bus-launcher, which D-Bus starts on demand). No session bus, or none that
knows org.a11y.Bus: there is no tree, said once in the log, and the caller carries on with pixels.

Turning it on: toolkits publish their tree only when assistive technology is announced. `org.a11y.Status
IsEnabled` is that announcement (GTK, and Qt 5.11+, watch it); when it is off it is set, and the log says so.
`ScreenReaderEnabled` is set only when asked (`screen_reader=True`): at-spi-bus-launcher writes it through to
GNOME's `screen-reader-enabled` setting, which starts Orca, a talking screen reader, on a GNOME desktop. Qt
also reads IsEnabled; Chromium and accesskit need ScreenReaderEnabled (or their own switches). Setting
IsEnabled on GNOME writes `toolkit-accessibility`, which persists: that is what GNOME's own "assistive
technologies" switch does, and the log names it.

Every call carries a deadline (time.monotonic() seconds): a busy app that does not answer in time makes the
call raise TimeoutError, and the caller gives up on the tree for that step.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger

from sandbox.errors import SandboxError

BUS_NAME, BUS_PATH = "org.a11y.Bus", "/org/a11y/bus"
STATUS = "org.a11y.Status"
CONNECT_TIMEOUT_S = 1.0  # reaching the session bus and asking it for the accessibility bus
SETTLE_S = 1.0  # after turning accessibility on: how long to wait for a first application to register

_said: set[str] = set()  # what was already said once in this process


class TreeError(SandboxError):
    """An application's tree answered a call with an error (the object went away, a method it lacks)."""


@dataclass(frozen=True, kw_only=True)
class Call:
    """One method call on the accessibility bus."""

    bus_name: str
    path: str
    interface: str
    method: str
    signature: str | None = None
    body: tuple[Any, ...] = ()

    @classmethod
    def get(cls, bus_name: str, path: str, interface: str, name: str) -> Call:
        """A property read (`org.freedesktop.DBus.Properties.Get`); its answer is the bare value."""
        return cls(
            bus_name=bus_name,
            path=path,
            interface="org.freedesktop.DBus.Properties",
            method="Get",
            signature="ss",
            body=(interface, name),
        )


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the accessibility tree did not answer in time")
    return left


class AccessibilityBus:
    """One connection to the accessibility bus (not thread-safe: one per thread)."""

    def __init__(self, connection: Any, *, address: str) -> None:
        self._connection = connection
        self.address = address

    def call(self, call: Call, *, deadline: float) -> Any:
        """One call's answer (a single value is unwrapped); TreeError for an error reply."""
        return self.call_many([call], deadline=deadline)[0]

    def call_many(self, calls: Sequence[Call], *, deadline: float) -> list[Any]:
        """The answers of several calls, sent at once and read as they come (an error reply's answer is a
        TreeError instance, not raised: one gone object must not sink its siblings)."""
        from jeepney import DBusAddress, MessageType, new_method_call
        from jeepney.low_level import HeaderFields

        serials: dict[int, int] = {}
        for index, call in enumerate(calls):
            address = DBusAddress(call.path, bus_name=call.bus_name, interface=call.interface)
            serial = next(self._connection.outgoing_serial)
            self._connection.send(new_method_call(address, call.method, call.signature, call.body), serial=serial)
            serials[serial] = index
        answers: list[Any] = [None] * len(calls)
        while serials:
            message = self._connection.receive(timeout=_remaining(deadline))
            index_or_none = serials.pop(message.header.fields.get(HeaderFields.reply_serial, -1), None)
            if index_or_none is None:
                continue  # a signal, or the late reply to a call that timed out earlier
            if message.header.message_type == MessageType.error:
                name = message.header.fields.get(HeaderFields.error_name, "error")
                answers[index_or_none] = TreeError(f"{calls[index_or_none].method}: {name}")
                continue
            body = message.body
            if calls[index_or_none].method == "Get" and body:
                body = (body[0][1],)  # a property: the variant's value
            answers[index_or_none] = body[0] if len(body) == 1 else body
        for answer in answers:
            if isinstance(answer, TreeError) and len(calls) == 1:
                raise answer
        return answers

    def pid_of(self, bus_name: str, *, deadline: float) -> int | None:
        """The process id behind a connection on the accessibility bus (None when the bus will not say)."""
        call = Call(
            bus_name="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            method="GetConnectionUnixProcessID",
            signature="s",
            body=(bus_name,),
        )
        try:
            return int(self.call(call, deadline=deadline))
        except TreeError:
            return None

    def wait_for_application(self, *, timeout_s: float) -> bool:
        """Wait until an application registers with the registry (its ChildrenChanged signal on the desktop),
        at most `timeout_s`; True when one did."""
        from jeepney import MatchRule

        rule = MatchRule(type="signal", interface="org.a11y.atspi.Event.Object", member="ChildrenChanged")
        add_match = Call(
            bus_name="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            method="AddMatch",
            signature="s",
            body=(rule.serialise(),),
        )
        deadline = time.monotonic() + timeout_s
        try:
            self.call(add_match, deadline=deadline)
            with self._connection.filter(rule) as matches:
                self._connection.recv_until_filtered(matches, timeout=_remaining(deadline))
            return True
        except (TimeoutError, TreeError):
            return False

    def close(self) -> None:
        self._connection.close()


def open_bus(
    *,
    a11y_address: str | None = None,
    session_address: str | None = None,
    enable: bool = True,
    screen_reader: bool = False,
) -> AccessibilityBus | None:
    """A connection to the accessibility bus, with accessibility turned on (`enable`); None (said once in the
    log) when there is none. `a11y_address`: AT_SPI_BUS_ADDRESS if set; `session_address`: the session bus
    (DBUS_SESSION_BUS_ADDRESS when None)."""
    from jeepney.io.blocking import open_dbus_connection

    session = None
    turned_on = False
    try:
        if a11y_address is None or enable:
            session = open_dbus_connection(session_address or "SESSION", auth_timeout=CONNECT_TIMEOUT_S)
        if a11y_address is None:
            a11y_address = _ask_address(session)
        if enable and session is not None:
            turned_on = _turn_on(session, screen_reader=screen_reader)
        connection = open_dbus_connection(a11y_address, auth_timeout=CONNECT_TIMEOUT_S)
    except (OSError, KeyError, ValueError, TimeoutError, TreeError) as exc:
        # OSError: no socket there; KeyError: no DBUS_SESSION_BUS_ADDRESS; TreeError: nothing owns org.a11y.Bus
        _say_once("no-bus", f"no accessibility bus ({_one_line(exc)}): elements are judged by pixels alone")
        return None
    finally:
        if session is not None:
            session.close()
    bus = AccessibilityBus(connection, address=a11y_address)
    if turned_on:
        bus.wait_for_application(timeout_s=SETTLE_S)
    return bus


def _session_call(session: Any, method: str, signature: str | None = None, body: tuple[Any, ...] = ()) -> Any:
    from jeepney import DBusAddress, MessageType, new_method_call
    from jeepney.low_level import HeaderFields

    interface = "org.freedesktop.DBus.Properties" if method in ("Get", "Set") else BUS_NAME
    address = DBusAddress(BUS_PATH, bus_name=BUS_NAME, interface=interface)
    reply = session.send_and_get_reply(new_method_call(address, method, signature, body), timeout=CONNECT_TIMEOUT_S)
    if reply.header.message_type == MessageType.error:
        raise TreeError(f"{BUS_NAME}.{method}: {reply.header.fields.get(HeaderFields.error_name, 'error')}")
    return reply.body[0] if reply.body else None


def _ask_address(session: Any) -> str:
    return str(_session_call(session, "GetAddress"))


def _turn_on(session: Any, *, screen_reader: bool) -> bool:
    """Set IsEnabled (and ScreenReaderEnabled when asked) where off; True when something was turned on."""
    switches = ("IsEnabled", "ScreenReaderEnabled") if screen_reader else ("IsEnabled",)
    turned = []
    for name in switches:
        if not _session_call(session, "Get", "ss", (STATUS, name))[1]:
            _session_call(session, "Set", "ssv", (STATUS, name, ("b", True)))
            turned.append(name)
    if turned:
        logger.info(
            f"accessibility was off: turned it on ({', '.join(f'org.a11y.Status {n}' for n in turned)}); "
            "apps publish their tree from now on (on GNOME this is the 'toolkit-accessibility' setting)"
        )
    return bool(turned)


def _say_once(what: str, message: str) -> None:
    if what not in _said:
        _said.add(what)
        logger.info(message)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, KeyError):  # jeepney reads the session bus's address from the environment
        return f"{exc.args[0]} is not set" if exc.args else "no session bus address"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
