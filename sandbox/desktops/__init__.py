"""The desktops deskpilot can act on, each behind one small interface (base.py: `DesktopRoute`).

- `base.py`: what a desktop offers: its screen (monitors, scales, grabs, the pointer), input drivers (pointer,
  keys, text), the stacking order of windows, the stop-key route and the watch on the person's own input.
- `x11.py`: X11, composed of the mss capture, the input drivers and the pynput listeners.
- `x11_input.py`: every X11 key press, character and pointer event through XTest (never XSendEvent), characters
  missing from the keymap through a spare keycode; the executor and the Python export type through it.
- `x11_stacking.py`: which parts of deskpilot's X windows are really visible.
- `dry_run.py`: no display at all: one fixed monitor, input only recorded (`act --dry-run --screen`).
- `session.py`: which desktop this is (X11, Wayland and its compositor, none), from the environment.
- `wlroots.py`, `wlroots_input.py`, `wayland_wire.py`: Wayland on wlroots compositors (Sway, Hyprland, ...): grim
  for the picture, a virtual pointer and keyboard (with deskpilot's own keymap) over a small Wayland client.
- `mutter.py`, `portal.py`, `remote_input.py`, `dbus_calls.py`, `pipewire_frame.py`: GNOME (Mutter's RemoteDesktop
  and ScreenCast over D-Bus, a stream's frame read by GStreamer) and KDE (the XDG desktop portal, consent kept as a
  restore token), one input driver for both, session-bus calls over jeepney.
- `sway_tree.py`: Sway's window tree over its IPC socket: the stacking (and deskpilot's own windows) on Sway.
- `refused.py`: a desktop with no usable route: every acting command refuses before it acts, naming what is missing.

The route is chosen in one place, app/desktop.py; nothing past it asks which one it got.
"""
