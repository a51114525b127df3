"""Errors of the sandbox layer.

    SandboxError                 base of everything raised on purpose in sandbox/
    ├── ActionError              an action (JSON or constructed) is not in the closed vocabulary (also a ValueError)
    │   └── KeyNameError         a key name that deskpilot does not know
    ├── GeometryError            a coordinate or a size outside what the geometry allows (also a ValueError)
    ├── PolicyError              a policy file that cannot be loaded (names the file and key)
    ├── UncheckedActionError     an executor was handed something the policy did not check
    ├── DriverError              the input driver, the screen capture or the desktop failed (no display, ...)
    └── StoppedError             the stop key (or an explicit stop) ended the run
        ├── PausedByUserError    the user's own mouse or keyboard took over; the run pauses
        └── FailSafeError        pyautogui's fail-safe: the person pushed the pointer into a screen corner

Refusals by the policy are values (Deny, Confirm), never exceptions.
"""

from __future__ import annotations


class SandboxError(Exception):
    """Base of every deliberate error in the sandbox layer."""


class ActionError(SandboxError, ValueError):
    """An action outside the closed vocabulary or with a bad field."""


class KeyNameError(ActionError):
    """A key name that is not one of deskpilot's key names or aliases."""


class GeometryError(SandboxError, ValueError):
    """A size, point or scale that the geometry cannot accept."""


class PolicyError(SandboxError):
    """A policy file that cannot be loaded."""


class UncheckedActionError(SandboxError):
    """Something reached the executor without a fresh policy check."""


class DriverError(SandboxError):
    """Input or capture hardware failed (no display, missing backend)."""


class StoppedError(SandboxError):
    """The run was stopped (stop key, user input, or an explicit stop)."""


class PausedByUserError(StoppedError):
    """The user moved the mouse or typed while deskpilot acted: their input wins, the run pauses."""


class FailSafeError(StoppedError):
    """The driver's own stop: the pointer was pushed into a screen corner (pyautogui's FAILSAFE); the run ends."""


def first_line(exc: BaseException) -> str:
    """The first line of an error's text: some libraries (pynput) add lines of advice; our errors are one line."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
