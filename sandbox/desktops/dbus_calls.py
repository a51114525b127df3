"""Method calls and signals on the D-Bus session bus for the GNOME and portal routes (sandbox/desktops/mutter.py,
sandbox/desktops/portal.py), over jeepney as sandbox/accessibility/bus.py does.

One connection per user of it, kept open: Mutter ties a remote-desktop session to the connection that created
it and ends the session when that connection goes, and a portal session belongs to its sender's unique name.
Every call carries a timeout, and every error reply becomes one DriverError line naming the call, so a missing
service is said plainly instead of hanging a run.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from sandbox.errors import DriverError

CONNECT_TIMEOUT_S = 2.0
CALL_TIMEOUT_S = 5.0
BUS = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")


class BusError(DriverError):
    """A D-Bus call failed: no session bus, nobody owns the name, or the service answered with an error."""


class SessionBus:
    """One blocking connection to the session bus (`address`: a bus address, default $DBUS_SESSION_BUS_ADDRESS);
    calls from several threads take turns."""

    def __init__(self, address: str = "SESSION") -> None:
        from jeepney.io.blocking import open_dbus_connection

        try:
            self._connection = open_dbus_connection(address, auth_timeout=CONNECT_TIMEOUT_S)
        except KeyError as exc:  # jeepney reads the address from the environment
            raise BusError("no session bus: DBUS_SESSION_BUS_ADDRESS is not set") from exc
        except (OSError, ValueError, TimeoutError) as exc:
            raise BusError(f"cannot reach the session bus: {exc}") from exc
        self._lock = threading.RLock()

    @property
    def unique_name(self) -> str:
        return str(self._connection.unique_name)

    def call(
        self,
        destination: str,
        path: str,
        interface: str,
        method: str,
        signature: str | None = None,
        body: tuple[Any, ...] = (),
        *,
        timeout_s: float = CALL_TIMEOUT_S,
    ) -> tuple[Any, ...]:
        """The reply's body; BusError naming `interface.method` for an error reply or no reply in time."""
        from jeepney import DBusAddress, MessageType, new_method_call
        from jeepney.low_level import HeaderFields

        address = DBusAddress(path, bus_name=destination, interface=interface)
        message = new_method_call(address, method, signature, body)
        with self._lock:
            try:
                reply = self._connection.send_and_get_reply(message, timeout=timeout_s)
            except TimeoutError as exc:
                raise BusError(f"{interface}.{method}: no answer within {timeout_s:g} s") from exc
            except OSError as exc:
                raise BusError(f"{interface}.{method}: the session bus went away ({exc})") from exc
        if reply.header.message_type == MessageType.error:
            name = reply.header.fields.get(HeaderFields.error_name, "error")
            detail = f": {reply.body[0]}" if reply.body and isinstance(reply.body[0], str) else ""
            raise BusError(f"{interface}.{method}: {name}{detail}".splitlines()[0])
        return tuple(reply.body)

    def get_property(self, destination: str, path: str, interface: str, name: str) -> Any:
        """A property's bare value (org.freedesktop.DBus.Properties.Get)."""
        body = self.call(destination, path, "org.freedesktop.DBus.Properties", "Get", "ss", (interface, name))
        return body[0][1]

    def has_owner(self, name: str) -> bool:
        """Whether some connection owns `name` now, or the bus can start it (an activatable service)."""
        if self.call(*BUS, "NameHasOwner", "s", (name,))[0]:
            return True
        return name in self.call(*BUS, "ListActivatableNames")[0]

    @contextlib.contextmanager
    def expect(self, **rule: str) -> Iterator[Callable[[float], tuple[Any, ...]]]:
        """Inside the block, signals matching `rule` (jeepney MatchRule fields) are kept from the moment it opens,
        so a call made in the block cannot outrun its answer; the block gets `next(timeout_s)`: the body of the
        next such signal, BusError when none comes in time."""
        from jeepney import MatchRule

        match = MatchRule(type="signal", **rule)
        self.call(*BUS, "AddMatch", "s", (match.serialise(),))
        with self._connection.filter(match, bufsize=16) as matches:

            def next_signal(timeout_s: float) -> tuple[Any, ...]:
                with self._lock:
                    try:
                        return tuple(self._connection.recv_until_filtered(matches, timeout=timeout_s).body)
                    except TimeoutError as exc:
                        what = rule.get("member", "signal")
                        raise BusError(f"no {what} signal within {timeout_s:g} s") from exc

            try:
                yield next_signal
            finally:
                with contextlib.suppress(BusError):
                    self.call(*BUS, "RemoveMatch", "s", (match.serialise(),))

    def close(self) -> None:
        self._connection.close()
