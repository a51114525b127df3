"""What the MCP tools do, without the protocol: look, locate, act and run a task on the desktop, one at a time.

Every action goes through app/desktop.py's `open_desktop`, as `deskpilot act` and `deskpilot run` do: the policy,
the executor's re-check right before acting, the stop key and the pause on the person's own input. On top:

- one call at a time: a call that arrives while another acts (or locates, or runs a task) is refused at once, in
  one line, rather than queued behind it: the calling agent sees the screen change under a call it did not wait for
  otherwise;
- the stop key (or the run panel's Stop: `stop`) ends the current call and refuses every later one, until the
  person resumes (`resume`, the run panel's Resume; without a panel, by restarting the server);
- every action recorded: one session per connection (app/mcp/journal.py) and one per `run_task`.

The person's side is an `Onlooker`: told of each call as it arrives, shown each action just before it happens,
and asked about a "confirm" verdict where someone can be asked. With a display it is the run panel and the
overlay (app/gui/mcp_view.py); without one it is a line on stderr and no one can be asked, so a confirm verdict is
refused unless the server was started with `--yes`.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar

from agent.backends.base import Backend
from agent.errors import AgentError, SessionError
from agent.evaluation.locate import ocr_task
from agent.events import ActionProposed, RunFinished
from agent.families import Family
from agent.loop import Approve, Decision, Reject, RunOptions
from agent.loop import run_task as loop_run_task
from agent.pointing import ask_point
from agent.prompts import build_grounding_messages
from agent.session import SessionRecorder, default_sessions_dir, new_session_folder
from agent.session.png import encode_png
from agent.session.step_records import effect_to_json
from agent.waits import look_after, read_focus
from app.desktop import RESUME_AFTER_IDLE_S, Desktop, DesktopOptions, open_desktop
from app.event_lines import event_line
from app.mcp.journal import Journal, JournalFacts, monitor_of
from sandbox.actions import Action, Finish, Wait, action_points, action_to_json
from sandbox.errors import PausedByUserError, SandboxError, StoppedError, first_line
from sandbox.executor import Performed
from sandbox.geometry import Rect
from sandbox.policy import Confirm, Deny, Verdict
from sandbox.stop import StopFlag

_T = TypeVar("_T")
MAX_RUN_STEPS = 100  # run_task's max_steps at most (a client asking for more gets an error, not a long run)


class ToolError(Exception):
    """A call that did not do what was asked: one line for the calling agent, and the facts it may act on."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details


class Onlooker(Protocol):
    """The person's view of what clients do (app/gui/mcp_view.py: the run panel and the overlay). Each method
    returns once the person can see it; StoppedError when `stop` is stopped meanwhile."""

    def arrives(self, client: str, what: Action | str, stop: StopFlag) -> None:
        """A call arrives (an action, or a task in words): shown, and deskpilot's windows out of its way,
        before anything is looked at."""

    def before(self, client: str, action: Action, verdict: Verdict, stop: StopFlag) -> None:
        """Show `action` just before it happens (it takes a moment: the preview is drawn for it)."""

    def confirm(self, client: str, action: Action, verdict: Confirm, stop: StopFlag) -> bool | None:
        """The person's answer to a "confirm" verdict; None when no one can be asked."""


class StderrOnlooker:
    """Without a display (or with --no-panel): a line on stderr for each call, and no one to ask."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say

    def arrives(self, client: str, what: Action | str, stop: StopFlag) -> None:
        if isinstance(what, str):
            self._say(f"mcp: {client}: run_task {json.dumps(what, ensure_ascii=False)}")

    def before(self, client: str, action: Action, verdict: Verdict, stop: StopFlag) -> None:
        self._say(f"mcp: {client}: {json.dumps(action_to_json(action), ensure_ascii=False)}")

    def confirm(self, client: str, action: Action, verdict: Confirm, stop: StopFlag) -> bool | None:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class HandsOptions:
    yes: bool = False  # perform "confirm" verdicts without asking
    ask: bool = True  # False (--no-ask): never put a confirm verdict to the person
    record: bool = True
    sessions_dir: Path | None = None  # None: agent.session's default folder
    model_name: str | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None
    refine: str = "off"


@dataclass(frozen=True, slots=True, kw_only=True)
class Picture:
    """A screenshot for the client: PNG bytes and where its pixels lie on the screen."""

    png: bytes
    geometry: dict[str, Any]


class Hands:
    """The desktop, the backend and the sessions the MCP tools share; `open` before use, `close` after."""

    def __init__(
        self,
        *,
        backend: Backend,
        family: Family,
        desktop_options: DesktopOptions,
        options: HandsOptions,
        onlooker: Onlooker,
        say: Callable[[str], None],
        own_windows: Callable[[], Sequence[Rect]] = tuple,
    ) -> None:
        self.backend, self.family, self.options = backend, family, options
        self._desktop_options = desktop_options
        self._onlooker = onlooker
        self._own_windows = own_windows  # the run panel's (never clicked, whoever asks)
        self._say = say
        self._busy = threading.Lock()
        self._doing = ""
        self._stack: contextlib.ExitStack | None = None
        self._desktop: Desktop | None = None
        self._journals: dict[str, Journal] = {}

    # -- lifetime ----------------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the desktop (SandboxError when there is none): the stop key listens from here on."""
        stack = contextlib.ExitStack()
        options = self._desktop_options
        try:
            self._desktop = stack.enter_context(
                open_desktop(options, own_windows=self._own_windows, announce=self._say)
            )
        except BaseException:
            stack.close()
            raise
        self._stack = stack

    def resume(self) -> None:
        """The person's resume after the stop key: a fresh desktop and stop flag (never a client's to call)."""
        with self._busy:
            self._close_desktop()
            self.open()

    @property
    def is_open(self) -> bool:
        return self._desktop is not None

    def stop(self, reason: str) -> None:
        """The person's Stop (the run panel's): as the stop key, the current call ends and later ones are refused."""
        desktop = self._desktop
        if desktop is not None:
            desktop.stop.stop(reason)

    @property
    def stopped_by_person(self) -> str | None:
        """Why the person stopped every call (stop key or Stop), or None: also None while the desktop is closed."""
        desktop = self._desktop
        return (desktop.stop.reason or "stopped") if desktop is not None and desktop.stop.stopped else None

    def close(self) -> None:
        """End the current call, every connection's session, the desktop and the backend."""
        desktop = self._desktop
        by_person = desktop is not None and desktop.stop.stopped  # the stop key, before the shutdown's own stop
        if desktop is not None and not by_person:
            desktop.stop.stop("the MCP server is shutting down")
        with self._busy:
            for key in list(self._journals):
                self._end(key, stopped=by_person)
            self._close_desktop()
            self.backend.close()

    def _close_desktop(self) -> None:
        stack, self._stack, self._desktop = self._stack, None, None
        if stack is not None:
            stack.close()

    def end_connection(self, key: str) -> None:
        """A connection ended: its session ends too (once the call in progress, if any, has answered)."""
        with self._busy:
            self._end(key)

    def _end(self, key: str, *, stopped: bool | None = None) -> None:
        journal = self._journals.pop(key, None)
        if journal is None:
            return
        if stopped is None:
            stopped = self._desktop is not None and self._desktop.stop.stopped
        warning = journal.close("stopped" if stopped else "success", "the MCP connection ended")
        if warning:
            self._say(warning)
        if journal.folder is not None:
            self._say(f"session: {journal.folder}")

    @property
    def stopped(self) -> str | None:
        """Why every call is refused now (the stop key), or None."""
        desktop = self._desktop
        if desktop is None:
            return "deskpilot's desktop is closed"
        return (desktop.stop.reason or "stopped") if desktop.stop.stopped else None

    # -- the tools ----------------------------------------------------------------------------------------

    def screenshot(self, monitor: int) -> Picture:
        desktop = self._ready()
        shot = desktop.capture.grab(self._monitor(desktop, monitor))
        area = shot.monitor
        geometry = {
            "monitor": shot.index,
            "x": area.x,
            "y": area.y,
            "width": area.width,
            "height": area.height,
            "scale": area.scale,
            "image_width": shot.image.width,
            "image_height": shot.image.height,
            "monitors": shot.screen.to_json(),
            "coordinates": "screen pixels: image pixel (px, py) is the screen point "
            f"({area.x} + px / {area.scale:g}, {area.y} + py / {area.scale:g})",
        }
        return Picture(png=encode_png(shot.image), geometry=geometry)

    def locate(self, instruction: str, monitor: int) -> dict[str, Any]:
        with self._one_at_a_time("locate"):
            desktop = self._ready()
            shot = desktop.capture.grab(self._monitor(desktop, monitor))
            backend, family, area = self.backend, self.family, shot.monitor
            task = ocr_task(instruction) if backend.capabilities.literal_tasks else instruction
            try:
                answer = ask_point(
                    backend,
                    family,
                    shot.image,
                    task=task,
                    conversation=lambda picture: build_grounding_messages(family, instruction, picture),
                    origin=(area.x, area.y),
                    scale=area.scale,
                    min_pixels=self.options.min_pixels,
                    max_pixels=self.options.max_pixels,
                    stop=desktop.stop,
                )
            except StoppedError as exc:
                raise ToolError(self._stopped_line(str(exc))) from None
            except (AgentError, SandboxError) as exc:
                raise ToolError(f"locate: {first_line(exc)}") from None
            reading = answer.reading
            if reading.point is None:
                raise ToolError(f"not found: {instruction!r} on monitor {shot.index}: {reading.why_not}")
            found: dict[str, Any] = {"x": reading.point[0], "y": reading.point[1], "monitor": shot.index}
            if reading.chosen is not None and reading.chosen.box is not None:
                found["box"] = list(reading.chosen.box)
            return found

    def act(self, *, connection: str, client: str, action: Action, raw: str) -> dict[str, Any]:
        with self._one_at_a_time("act"):
            desktop = self._ready()
            self._shown(lambda: self._onlooker.arrives(client, action, desktop.stop))
            journal = self._journal(connection, client)
            step = 0
            watched = not isinstance(action, (Wait, Finish))  # the others touch the desktop: their effect is looked at
            monitor = monitor_of(action, desktop.capture.geometry())
            shot = desktop.capture.grab(monitor) if watched or journal is not None else None
            focus = read_focus(desktop.capture) if watched else None
            if journal is not None and shot is not None:  # the screen the action is asked on, for the record
                step = self._recorded(lambda: journal.step(action, raw, shot))
            checked = desktop.executor.check(action, confirmed=self.options.yes)
            if journal is not None:
                self._recorded(lambda: journal.verdict(step, action, raw, checked.verdict))
            verdict = checked.verdict
            if isinstance(verdict, Confirm) and not self.options.yes:
                answer = None
                if self.options.ask:
                    asked = verdict
                    answer = self._shown(lambda: self._onlooker.confirm(client, action, asked, desktop.stop))
                if answer is not True:
                    self._refuse(journal, step, action, verdict, self._unconfirmed(verdict, answer))
                checked = desktop.executor.check(action, confirmed=True)
                verdict = checked.verdict
            if isinstance(verdict, Deny):
                self._refuse(
                    journal, step, action, verdict, f"refused by the policy ({verdict.rule}): {verdict.reason}"
                )
            self._shown(lambda: self._onlooker.before(client, action, verdict, desktop.stop))
            try:
                result = desktop.executor.execute(checked)
            except PausedByUserError as exc:
                raise ToolError(
                    f"paused: {exc}; the person is using the mouse or keyboard, nothing was done: call again "
                    "once they stop",
                    _report(verdict, executed=False),
                ) from None
            except StoppedError as exc:
                raise ToolError(self._stopped_line(str(exc)), _report(verdict, executed=False)) from None
            if not isinstance(result, Performed):
                again = result.verdict
                self._refuse(
                    journal, step, result.action, again, f"refused on the re-check ({again.rule}): {again.reason}"
                )
            if journal is not None:
                self._recorded(
                    lambda: journal.executed(
                        step, result.action, confirmed=checked.confirmed, execute_s=result.elapsed_s
                    )
                )
            effect = None
            if watched and shot is not None:
                try:
                    _, effect = look_after(
                        desktop.capture,
                        monitor,
                        desktop.stop,
                        before=shot,
                        focus_before=focus,
                        points=action_points(result.action),
                    )
                except StoppedError:  # stopped while looking: the action ran, its effect is not known
                    effect = None
            return {**_report(result.verdict, executed=True), "effect": effect_to_json(effect)}

    def _shown(self, show: Callable[[], _T]) -> _T:
        """What the person is shown or asked; stopped meanwhile: the call ends as every stopped call does."""
        try:
            return show()
        except StoppedError as exc:
            raise ToolError(self._stopped_line(str(exc))) from None

    @staticmethod
    def _recorded(write: Callable[[], _T]) -> _T:
        """A write to the connection's session; a failed one is the call's one-line error (nothing unrecorded)."""
        try:
            return write()
        except SessionError as exc:
            raise ToolError(f"recording failed: {first_line(exc)}; nothing more is done unrecorded") from None

    def run_task(self, *, client: str, task: str, max_steps: int) -> dict[str, Any]:
        with self._one_at_a_time("run_task"):
            desktop = self._ready()
            self._shown(lambda: self._onlooker.arrives(client, task, desktop.stop))
            options = self.options
            run_options = RunOptions(
                max_steps=max_steps,
                min_pixels=options.min_pixels,
                max_pixels=options.max_pixels,
                yes=options.yes,
                model_name=options.model_name,
                policy_digest=desktop.policy.digest(),
                refine=options.refine,
            )
            recorder = None
            if options.record:
                recorder = SessionRecorder(
                    new_session_folder(self._sessions_dir(), task),
                    run={**self._run_facts(), "max_steps": max_steps, "mcp_client": client},
                )
            finished: RunFinished | None = None

            def approve(proposed: ActionProposed) -> Decision:
                """Each action of the run as the client's own acts: a confirm asks the person, then the preview."""
                action, verdict = proposed.parsed.action, proposed.verdict
                if isinstance(verdict, Confirm) and not options.yes:
                    answer = self._onlooker.confirm(client, action, verdict, desktop.stop) if options.ask else None
                    if answer is not True:
                        said = "the person rejected it" if answer is False else "no one could be asked to confirm it"
                        return Reject(note=f"{said} ({verdict.rule})")
                self._onlooker.before(client, action, verdict, desktop.stop)
                return Approve()

            try:
                events = loop_run_task(
                    task,
                    backend=self.backend,
                    family=self.family,
                    executor=desktop.executor,
                    capture=desktop.capture,
                    options=run_options,
                    approve=approve,
                    own_windows=desktop.own_windows,
                    windows=desktop.windows,
                    elements=desktop.elements,
                )
                for event in events:
                    if recorder is not None:
                        recorder.handle(event)
                    line = event_line(event, resume_after_s=RESUME_AFTER_IDLE_S)
                    if line:
                        self._say(f"mcp: {client}: {line}")
                    if isinstance(event, RunFinished):
                        finished = event
            finally:
                if recorder is not None:
                    try:
                        recorder.close()
                    except AgentError as exc:
                        self._say(f"warning: {exc}")
                    self._say(f"session: {recorder.folder}")
            assert finished is not None
            return {
                "outcome": finished.outcome,
                "reason": finished.reason,
                "steps": finished.steps,
                "answer": finished.answer,
                "session": str(recorder.folder) if recorder is not None else None,
            }

    # -- helpers ------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _one_at_a_time(self, what: str) -> Iterator[None]:
        if not self._busy.acquire(blocking=False):
            raise ToolError(
                f"busy: {self._doing or 'another call'} is still running; deskpilot does one thing at a time: "
                "call again once it has answered"
            )
        try:
            self._doing = what
            yield
        finally:
            self._doing = ""
            self._busy.release()

    def _ready(self) -> Desktop:
        """The open desktop, unless the stop key refuses every call."""
        reason = self.stopped
        if reason is not None or self._desktop is None:
            raise ToolError(self._stopped_line(reason or "stopped"))
        return self._desktop

    @staticmethod
    def _stopped_line(reason: str) -> str:
        return (
            f"stopped: {reason}; deskpilot refuses every call until the person resumes (Resume in the run panel, "
            "or restarting `deskpilot mcp`)"
        )

    @staticmethod
    def _monitor(desktop: Desktop, monitor: int) -> int:
        count = len(desktop.capture.geometry().monitors)
        if not 0 <= monitor < count:
            raise ToolError(f"monitor {monitor} does not exist: this screen has monitors 0 to {count - 1}")
        return monitor

    def _journal(self, connection: str, client: str) -> Journal | None:
        if not self.options.record:
            return None
        journal = self._journals.get(connection)
        if journal is None:
            desktop = self._ready()
            family, options = self.family, self.options
            facts = JournalFacts(
                backend=self.backend.name,
                model=options.model_name,
                family=family.name,
                min_pixels=options.min_pixels if options.min_pixels is not None else family.min_pixels,
                max_pixels=options.max_pixels if options.max_pixels is not None else family.max_pixels,
                policy_digest=desktop.policy.digest(),
                run=self._run_facts(),
            )
            journal = self._journals[connection] = Journal(root=self._sessions_dir(), client=client, facts=facts)
        return journal

    def _run_facts(self) -> dict[str, object]:
        driver = self._desktop_options.driver
        return {
            "mode": "mcp",
            "yes": self.options.yes,
            "driver": driver,
            "isolated": False,
            "refine": self.options.refine,
        }

    def _sessions_dir(self) -> Path:
        return self.options.sessions_dir or default_sessions_dir()

    def _unconfirmed(self, verdict: Confirm, answer: bool | None) -> str:
        if answer is False:
            return f"the person rejected it ({verdict.rule}): {verdict.reason}"
        nobody = "--no-ask was given" if not self.options.ask else "no run panel: no display, or --no-panel"
        return (
            f"needs confirmation ({verdict.rule}): {verdict.reason}; no one can be asked ({nobody}): "
            "start `deskpilot mcp --yes` to allow such actions"
        )

    @staticmethod
    def _refuse(journal: Journal | None, step: int, action: Action, verdict: Verdict, line: str) -> NoReturn:
        if journal is not None:
            journal.blocked(step, action, verdict)
        raise ToolError(line, _report(verdict, executed=False))


def _report(verdict: Verdict, *, executed: bool) -> dict[str, Any]:
    """What `deskpilot act` reports, the same fields."""
    return {"verdict": verdict.verdict, "rule": verdict.rule, "reason": verdict.reason, "executed": executed}
