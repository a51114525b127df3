"""A python-dbusmock template of the XDG desktop portal's Screenshot, ScreenCast and RemoteDesktop, as the portal
documents them: each request answers with a Response signal on the request path derived from the caller's
unique name and its handle_token, after the method has returned (as the real portal does, the person's
dialog coming in between). Run by the SYSTEM python3 (python3-dbusmock):

    python3 -m dbusmock --session --template tests/helpers/portal_mock.py -p '{"picture": "/x.png", ...}'

Parameters: `picture` (a PNG each Screenshot hands out as a fresh file, in the folder `shots`), `start_response` (0 granted, 1 the
person declined, 2 other), `streams` ([[node, x, y, width, height], ...]). Each Start returns the restore
token "token-N" (N counts the starts); the calls and their options are read back with the Mock interface's
GetCalls. The portal's methods take the caller (sender) as dbus-python's sender_keyword, which dbusmock's
AddMethod cannot pass on: `_method` builds them.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

import dbus
import dbus.service
from dbusmock.mockobject import objects
from gi.repository import GLib

BUS_NAME = "org.freedesktop.portal.Desktop"
MAIN_OBJ = "/org/freedesktop/portal/desktop"
MAIN_IFACE = "org.freedesktop.portal.Screenshot"
SYSTEM_BUS = False
SCREENCAST = "org.freedesktop.portal.ScreenCast"
REMOTE_DESKTOP = "org.freedesktop.portal.RemoteDesktop"
REQUEST = "org.freedesktop.portal.Request"


def _method(mock: Any, interface: str, name: str, in_sig: str, out_sig: str, func: Any) -> None:
    """`func(mock, sender, *args)` as the D-Bus method `interface.name`, logged like any dbusmock method."""
    mock.AddMethod(interface, name, in_sig, out_sig, "")
    names = [f"arg{i}" for i in range(1, len(list(dbus.Signature(in_sig))) + 1)]
    source = (
        f"def method(self, {', '.join([*names, 'sender=None'])}):\n    return run(self, sender, {', '.join(names)})"
    )
    scope: dict[str, Any] = {}

    def run(self: Any, sender: str, *args: Any) -> Any:
        self.call_log.append((0, name, list(args)))
        return func(self, str(sender), *args)

    exec(source, {"run": run}, scope)  # noqa: S102 - a fixed wrapper of the right arity
    wrapped = dbus.service.method(interface, out_signature=out_sig, sender_keyword="sender")(scope["method"])
    wrapped.__name__ = name
    wrapped._dbus_in_signature = in_sig
    mock.methods[interface][name] = (in_sig, out_sig, "", wrapped)


def _respond(mock: Any, sender: str, options: Any, code: int, results: dict[str, Any]) -> dbus.ObjectPath:
    path = f"{MAIN_OBJ}/request/{sender.lstrip(':').replace('.', '_')}/{options['handle_token']}"
    if path not in objects:
        mock.AddObject(path, REQUEST, {}, [("Close", "", "", "")])

    def emit() -> bool:
        objects[path].EmitSignal(REQUEST, "Response", "ua{sv}", [dbus.UInt32(code), dbus.Dictionary(results, "sv")])
        return False

    GLib.idle_add(emit)  # after the reply, as the real portal answers once the person has chosen
    return dbus.ObjectPath(path)


def load(mock: Any, parameters: dict[str, Any]) -> None:
    mock.starts = 0
    mock.AddProperties(MAIN_IFACE, {"version": dbus.UInt32(2)})
    mock.AddProperties(SCREENCAST, {"version": dbus.UInt32(4), "AvailableSourceTypes": dbus.UInt32(7)})
    mock.AddProperties(REMOTE_DESKTOP, {"version": dbus.UInt32(2), "AvailableDeviceTypes": dbus.UInt32(7)})

    def screenshot(self: Any, sender: str, parent: str, options: Any) -> dbus.ObjectPath:
        copy = tempfile.NamedTemporaryFile(prefix="shot-", suffix=".png", dir=parameters.get("shots"), delete=False)  # noqa: SIM115
        copy.close()
        shutil.copyfile(parameters["picture"], copy.name)
        return _respond(self, sender, options, 0, {"uri": dbus.String("file://" + copy.name)})

    def create_session(self: Any, sender: str, options: Any) -> dbus.ObjectPath:
        handle = f"{MAIN_OBJ}/session/{sender.lstrip(':').replace('.', '_')}/{options['session_handle_token']}"
        self.AddObject(handle, "org.freedesktop.portal.Session", {}, [("Close", "", "", "")])
        return _respond(self, sender, options, 0, {"session_handle": dbus.String(handle)})

    def select(self: Any, sender: str, session: str, options: Any) -> dbus.ObjectPath:
        return _respond(self, sender, options, 0, {})

    def start(self: Any, sender: str, session: str, parent: str, options: Any) -> dbus.ObjectPath:
        code = int(parameters.get("start_response", 0))
        if code != 0:
            return _respond(self, sender, options, code, {})
        self.starts += 1
        streams = [
            (
                dbus.UInt32(node),
                dbus.Dictionary(
                    {"position": dbus.Struct((x, y), signature="ii"), "size": dbus.Struct((w, h), signature="ii")}, "sv"
                ),
            )
            for node, x, y, w, h in parameters.get("streams", [[40, 0, 0, 1280, 800]])
        ]
        results = {
            "devices": dbus.UInt32(3),
            "streams": dbus.Array(streams, signature="(ua{sv})"),
            "restore_token": dbus.String(f"token-{self.starts}"),
        }
        return _respond(self, sender, options, 0, results)

    _method(mock, MAIN_IFACE, "Screenshot", "sa{sv}", "o", screenshot)
    _method(mock, REMOTE_DESKTOP, "CreateSession", "a{sv}", "o", create_session)
    _method(mock, REMOTE_DESKTOP, "SelectDevices", "oa{sv}", "o", select)
    _method(mock, SCREENCAST, "SelectSources", "oa{sv}", "o", select)
    _method(mock, REMOTE_DESKTOP, "Start", "osa{sv}", "o", start)
    for name, signature in (
        ("NotifyPointerMotionAbsolute", "oa{sv}udd"),
        ("NotifyPointerButton", "oa{sv}iu"),
        ("NotifyPointerAxisDiscrete", "oa{sv}ui"),
        ("NotifyKeyboardKeysym", "oa{sv}iu"),
    ):
        mock.AddMethod(REMOTE_DESKTOP, name, signature, "", "")
