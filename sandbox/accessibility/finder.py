"""The element at a point for the executor: the tree opened on first use, once, and given up on for good.

The executor asks at every action with a point (the policy judges clicks by the element, the run shows what a
point hits). Most runs have no accessibility bus at all (CI, a bare X server, a desktop without at-spi2-core):
there the first ask finds none, says so once in the log, and every later ask costs nothing. A lookup that
fails midway (the bus went away, the X connection broke) gives up on the tree for the rest of the run, said
once: pixels alone decide from then on. A lookup past its budget is None for that point only.
One finder serves every thread (the loop's, the command line's): a lock keeps its one connection to one caller.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from loguru import logger

from sandbox.accessibility.bus import TreeError
from sandbox.accessibility.tree import LOOKUP_BUDGET_S, AccessibilityTree, Element, open_tree
from sandbox.accessibility.x11 import X11WindowAt

SHOWING_BUDGET_S = 1.0  # one read of every showing window's elements (a step's share of the tree)

ElementAt = Callable[[int, int], "Element | None"]


class ElementFinder:
    """`finder(x, y)`: the element at a screen point of X display `display` (None: $DISPLAY), or None."""

    def __init__(
        self,
        *,
        display: str | None = None,
        a11y_address: str | None = None,
        session_address: str | None = None,
        budget_s: float = LOOKUP_BUDGET_S,
    ) -> None:
        self.display = display
        self._a11y_address = a11y_address
        self._session_address = session_address
        self._budget_s = budget_s
        self._lock = threading.Lock()
        self._tree: AccessibilityTree | None = None
        self._window_at: X11WindowAt | None = None
        self._gone = False  # no bus, or it failed: never asked again

    @property
    def available(self) -> bool:
        """False once the finder has given up (no bus, or a failure): every lookup is None from then on."""
        return not self._gone

    def __call__(self, x: int, y: int) -> Element | None:
        with self._lock:
            if self._gone:
                return None
            tree = self._tree or self._open()
            if tree is None:
                return None
            try:
                return tree.element_at(x, y)
            except Exception as exc:  # noqa: BLE001 - a broken bus or display must never stop an action
                logger.warning(f"the accessibility tree stopped answering ({_one_line(exc)}): pixels alone decide")
                self._give_up()
                return None

    def showing(self, *, budget_s: float = SHOWING_BUDGET_S) -> list[Element]:
        """Every showing element of every showing window (this process's own left out), with what text elements
        hold and the names of their labels, within `budget_s` in all; [] without a tree. For a grounder that
        finds a field by its label or a button by its name (agent/backends/ocr/elements.py)."""
        with self._lock:
            if self._gone:
                return []
            tree = self._tree or self._open()
            if tree is None:
                return []
            deadline = time.monotonic() + budget_s
            found: list[Element] = []
            try:
                for window in tree.showing_windows(except_pid=os.getpid(), budget_s=budget_s):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        logger.debug(f"the accessibility tree took over {budget_s:.1f} s: the rest is left to pixels")
                        break
                    found.extend(tree.walk(window, budget_s=left, full=True))
            except TimeoutError:
                logger.debug(f"the accessibility tree took over {budget_s:.1f} s: the rest is left to pixels")
            except TreeError as exc:  # a window closed while it was read: this time only
                logger.debug(f"the accessibility tree failed while read ({_one_line(exc)})")
            except Exception as exc:  # noqa: BLE001 - a broken bus must never stop a run
                logger.warning(f"the accessibility tree stopped answering ({_one_line(exc)}): pixels alone decide")
                self._give_up()
            return found

    def _open(self) -> AccessibilityTree | None:
        window_at = X11WindowAt(self.display)
        try:
            tree = open_tree(
                a11y_address=self._a11y_address,
                session_address=self._session_address,
                window_at=window_at,
                budget_s=self._budget_s,
            )
        except Exception as exc:  # noqa: BLE001 - the same: say it once, carry on with pixels
            logger.info(f"no accessibility tree ({_one_line(exc)}): elements are judged by pixels alone")
            tree = None
        if tree is None:  # open_tree said why, once
            window_at.close()
            self._gone = True
            return None
        self._tree, self._window_at = tree, window_at
        return tree

    def _give_up(self) -> None:
        self._gone = True
        self._close()

    def _close(self) -> None:
        if self._tree is not None:
            try:
                self._tree.bus.close()
            except OSError:
                pass
            self._tree = None
        if self._window_at is not None:
            self._window_at.close()
            self._window_at = None

    def close(self) -> None:
        with self._lock:
            self._close()


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
