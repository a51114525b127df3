"""The session recorder: turns a run's events into a session folder (format: agent/session/format.py).

It builds the reader's own record types (records.py) and writes each with its `to_json`, so what is
written is what the reader parses. On the loop's thread `handle(event)` only gathers fields and queues
work: PNG encoding (png.py), hashing the prompt and writing go to one background writer thread, in order. A step's
line is queued after its images, so it is written only once they are durably in place.

A recording never stops silently (an audit trail that ends half-way while the run goes on is worse than no
run): the writer stops at its first failure, and the next `handle` raises SessionError naming the file it was
writing. At each step boundary (and at the end) `handle` waits for the writer, so a step that could not be
written ends the run before the next step acts; the caller ends the run with that error (app/commands/run.py,
app/gui/worker.py). `close()` drains the queue and raises the same error if no `handle` has yet.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from PIL import Image

from agent.effects import Effect
from agent.errors import SessionError
from agent.events import (
    ActionBlocked,
    ActionDeferred,
    ActionExecuted,
    ActionProposed,
    ActionRejected,
    EffectSeen,
    Event,
    LookedAgain,
    ModelReplied,
    ParseFailed,
    PointRefined,
    ReplyParsed,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
    ScreenCaptured,
    StepStarted,
    looked_again_text,
    refinement_text,
)
from agent.prompts import ImagePart, Message
from agent.session.format import HEADER, IMAGES, SCHEMA_VERSION, STEPS, dumps_line, image_name, messages_digest
from agent.session.png import encode_png
from agent.session.records import (
    ActionRecord,
    End,
    Executed,
    Header,
    ImageRef,
    PointedElement,
    RecordedMessage,
    RecordedPart,
    RecordedPrompt,
    Reply,
    StepEvent,
    StepRecord,
)
from sandbox.files import write_atomically
from sandbox.geometry import ModelFrame

QUEUE_JOBS = 16  # the loop blocks only when the writer is this far behind (never with a real model's pace)
KNOWN_IMAGES = 16  # model images remembered, to name the file of each image in a later prompt
_Job = Callable[[], None]
_STEPS_LINE = STEPS  # what a job that appends a line writes


def deskpilot_version() -> str:
    try:
        return metadata.version("deskpilot")
    except metadata.PackageNotFoundError:
        return "unknown"


def _unrecorded(index: int) -> ActionRecord:
    """An action record with nothing known yet (filled in by the events that follow)."""
    return ActionRecord(
        index=index,
        model=None,
        screen=None,
        box=None,
        source=None,
        verdict=None,
        rejected=False,
        note=None,
        blocked=None,
        executed=None,
    )


@dataclass
class _Draft:
    """The step being recorded, filled in as its events come (the loop's thread only; a StepRecord at commit)."""

    step: int
    started: float
    screenshot: ImageRef | None = None
    model_image: ImageRef | None = None
    frame: ModelFrame | None = None
    cursor: tuple[int, int] | None = None
    reply: Reply | None = None
    thought: str | None = None
    parse_error: str | None = None
    actions: list[ActionRecord] = field(default_factory=list)
    events: list[StepEvent] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    effect: Effect | None = None


class _Writer:
    """One background thread doing the session's file work in order; the first error stops it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.error: BaseException | None = None
        self.failed_file: str | None = None  # what the failed job was writing, relative to the folder
        self._jobs: queue.Queue[tuple[_Job, str] | None] = queue.Queue(maxsize=QUEUE_JOBS)
        self._steps_fd = os.open(folder / STEPS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._thread = threading.Thread(target=self._work, name="deskpilot-session-writer", daemon=True)
        self._thread.start()

    def put(self, job: _Job, file: str) -> None:
        """Queue `job`, which writes `file` (relative to the folder; named when it fails)."""
        if self.error is None:
            self._jobs.put((job, file))

    def drain(self) -> None:
        """Wait until every queued job is done."""
        self._jobs.join()

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()
        os.close(self._steps_fd)

    def _work(self) -> None:
        while True:
            item = self._jobs.get()
            try:
                if item is None:
                    return
                if self.error is None:
                    item[0]()
            except BaseException as exc:  # reported by the next handle() or close(); nothing after it is written
                self.failed_file = item[1] if item is not None else None
                self.error = exc
            finally:
                self._jobs.task_done()

    def write_image(self, image: Image.Image, name: str) -> None:
        """Encode (png.py: ~13 ms for 1080p), then tmp + fsync + rename + fsync of the folder: in place,
        durably, before any line names it."""
        write_atomically(self.folder / name, encode_png(image))

    def append_line(self, data: bytes) -> None:
        """One write of one whole line, then fsync: a killed process leaves whole lines only."""
        view = memoryview(data)
        while view:
            written = os.write(self._steps_fd, view)
            view = view[written:]
        os.fsync(self._steps_fd)


class SessionRecorder:
    """Records one run into `folder` (created if missing). Call `handle` with every event, then `close`."""

    def __init__(self, folder: Path, *, run: Mapping[str, Any] | None = None) -> None:
        """`run`: extra facts for the header's "run" object (mode, driver, ...)."""
        self.folder = Path(folder)
        self._run = dict(run or {})
        try:
            (self.folder / IMAGES).mkdir(parents=True, exist_ok=True)
            self._writer = _Writer(self.folder)
        except OSError as exc:
            raise SessionError(f"cannot record the session in {self.folder}: {exc.strerror or exc}") from None
        self._step: _Draft | None = None
        self._line = 0  # of steps.jsonl, last queued (lines are written in the order they are queued)
        self._messages: tuple[Message, ...] = ()
        self._images: list[tuple[weakref.ref[Image.Image], str]] = []
        self._closed = False
        self._reported = False  # the writer's failure was raised by handle()
        self._handlers: dict[type, Callable[[Any], None]] = {
            RunStarted: self._started,
            StepStarted: self._step_started,
            ScreenCaptured: self._captured,
            ModelReplied: self._replied,
            ReplyParsed: self._parsed,
            ParseFailed: self._parse_failed,
            ActionProposed: self._proposed,
            ActionBlocked: self._blocked,
            ActionRejected: self._rejected,
            ActionExecuted: self._executed,
            RunPaused: self._paused,
            RunResumed: self._resumed,
            ActionDeferred: self._deferred,
            PointRefined: self._refined,
            LookedAgain: self._looked_again,
            EffectSeen: self._effect,
            RunFinished: self._finished,
        }

    @property
    def error(self) -> BaseException | None:
        return self._writer.error

    def handle(self, event: Event) -> None:
        """Take one event of the run; SessionError (naming the file) once a write has failed: the run must end.
        At a step boundary and at the end it first waits until the steps so far are on disk."""
        handler = self._handlers.get(type(event))
        if handler is not None and not self._closed:
            handler(event)
            if isinstance(event, (StepStarted, RunFinished)):
                self._writer.drain()
        if self._writer.error is not None and not self._reported:
            self._reported = True
            raise self._failure()

    def drain(self) -> None:
        """Wait until everything handled so far is on disk (for benchmarks and tests)."""
        self._writer.drain()

    def close(self) -> None:
        """Write what is pending, wait for the writer, and raise SessionError if anything failed."""
        if self._closed:
            return
        if self._writer.error is None:
            self._commit()
        self._closed = True
        self._writer.close()
        if self._writer.error is not None and not self._reported:
            self._reported = True
            raise self._failure()

    def _failure(self) -> SessionError:
        """The writer's first failure, naming the file it was writing."""
        exc = self._writer.error
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        file = self.folder / self._writer.failed_file if self._writer.failed_file else self.folder
        return SessionError(f"recording the session failed writing {file}: {detail}")

    def __enter__(self) -> SessionRecorder:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- events -----------------------------------------------------------------------------------------

    def _started(self, event: RunStarted) -> None:
        now = time.time()
        header = Header.from_event(
            event,
            schema=SCHEMA_VERSION,
            deskpilot_version=deskpilot_version(),
            started=datetime.fromtimestamp(now, timezone.utc).astimezone().isoformat(timespec="milliseconds"),
            t=now,
            run=self._run,
        )
        self._writer.put(lambda: write_atomically(self.folder / HEADER, dumps_line(header.to_json())), HEADER)

    def _step_started(self, event: StepStarted) -> None:
        self._commit()
        self._messages = ()
        self._step = _Draft(event.step, time.time())

    def _captured(self, event: ScreenCaptured) -> None:
        step = self._current(event.step)
        screen_file = image_name(event.step, "screen")
        self._queue_image(event.screenshot, screen_file)
        model_file = screen_file
        if event.model_image is not event.screenshot:
            model_file = image_name(event.step, "model")
            self._queue_image(event.model_image, model_file)
        self._remember(event.model_image, model_file)
        step.screenshot = ImageRef(file=screen_file, width=event.screenshot.width, height=event.screenshot.height)
        step.model_image = ImageRef(file=model_file, width=event.model_image.width, height=event.model_image.height)
        step.frame = event.frame
        step.cursor = event.cursor
        step.timings.update(settle_s=event.settle_s, capture_s=event.capture_s, prepare_s=event.prepare_s)

    def _replied(self, event: ModelReplied) -> None:
        step = self._current(event.step)
        self._messages = event.messages
        step.reply = Reply(
            raw=event.raw,
            input_tokens=event.input_tokens,
            output_tokens=event.output_tokens,
            image_tokens=event.image_tokens,
            reasoning=event.reasoning,
            repaired=event.repaired,
        )
        step.timings["model_s"] = event.elapsed_s

    def _parsed(self, event: ReplyParsed) -> None:
        step = self._current(event.step)
        step.thought = event.thought
        step.timings["parse_s"] = event.parse_s
        step.actions = [
            dataclasses.replace(_unrecorded(i), model=p.model, screen=p.action, box=p.box, source=p.source)
            for i, p in enumerate(event.actions)
        ]

    def _parse_failed(self, event: ParseFailed) -> None:
        self._current(event.step).parse_error = event.error

    def _update(self, step: int, index: int, **changes: Any) -> None:
        """Fill in fields of one action's record (an event without its ReplyParsed keeps what came)."""
        actions = self._current(step).actions
        while len(actions) <= index:
            actions.append(_unrecorded(len(actions)))
        actions[index] = dataclasses.replace(actions[index], **changes)

    def _proposed(self, event: ActionProposed) -> None:
        known = self._current(event.step).actions
        screen = known[event.index].screen if event.index < len(known) else None
        element = event.element
        pointed = None
        if element is not None:
            box = element.box
            pointed = PointedElement(role=element.role, name=element.name, box=(box.x, box.y, box.width, box.height))
        self._update(
            event.step, event.index, verdict=event.verdict, screen=screen or event.parsed.action, element=pointed
        )

    def _blocked(self, event: ActionBlocked) -> None:
        self._update(event.step, event.index, blocked=event.verdict, blocked_action=event.action)

    def _rejected(self, event: ActionRejected) -> None:
        self._update(event.step, event.index, rejected=True, note=event.note)

    def _executed(self, event: ActionExecuted) -> None:
        done = Executed(
            action=event.action,
            edited=event.edited,
            confirmed=event.confirmed,
            at=time.time(),
            check_s=event.check_s,
            execute_s=event.execute_s,
        )
        self._update(event.step, event.index, executed=done)

    def _paused(self, event: RunPaused) -> None:
        self._current(event.step).events.append(StepEvent(kind="paused", at=time.time(), reason=event.reason))

    def _resumed(self, event: RunResumed) -> None:
        self._current(event.step).events.append(StepEvent(kind="resumed", at=time.time()))

    def _deferred(self, event: ActionDeferred) -> None:
        self._current(event.step).events.append(StepEvent(kind="deferred", at=time.time(), reason=event.reason))

    def _refined(self, event: PointRefined) -> None:
        self._current(event.step).events.append(
            StepEvent(kind="refined", at=time.time(), reason=refinement_text(event))
        )

    def _looked_again(self, event: LookedAgain) -> None:
        self._current(event.step).events.append(
            StepEvent(kind="looked_again", at=time.time(), reason=looked_again_text(event))
        )

    def _effect(self, event: EffectSeen) -> None:
        self._current(event.step).effect = event.effect

    def _finished(self, event: RunFinished) -> None:
        self._commit()
        self._line += 1
        end = End(
            line=self._line,
            outcome=event.outcome,
            reason=event.reason,
            steps=event.steps,
            answer=event.answer,
            ended=time.time(),
        )
        self._writer.put(lambda: self._writer.append_line(dumps_line(end.to_json())), _STEPS_LINE)

    # -- helpers ----------------------------------------------------------------------------------------

    def _current(self, step: int) -> _Draft:
        if self._step is None or self._step.step != step:
            self._step_started(StepStarted(step=step))
        assert self._step is not None
        return self._step

    def _queue_image(self, image: Image.Image, name: str) -> None:
        self._writer.put(lambda: self._writer.write_image(image, name), name)

    def _remember(self, image: Image.Image, name: str) -> None:
        self._images = [(ref, file) for ref, file in self._images[-(KNOWN_IMAGES - 1) :] if ref() is not None]
        self._images.append((weakref.ref(image), name))

    def _file_of(self, image: Image.Image) -> str | None:
        return next((file for ref, file in reversed(self._images) if ref() is image), None)

    def _commit(self) -> None:
        """Queue the pending step's line (after its images); the prompt is hashed on the writer thread."""
        draft, self._step = self._step, None
        if draft is None or draft.screenshot is None:  # nothing was captured: there is nothing to replay or show
            return
        assert draft.model_image is not None and draft.frame is not None  # captured with the screenshot
        messages, number = self._messages, draft.step
        self._line += 1
        line, ended = self._line, time.time()
        recorded: list[RecordedMessage] = []
        extra = 0
        for message in messages:
            parts: list[RecordedPart] = []
            for part in message.parts:
                if not isinstance(part, ImagePart):
                    parts.append(part.text)
                    continue
                file = self._file_of(part.image)
                if file is None:  # an image this recorder never saw as a model image: keep it too
                    extra += 1
                    file = image_name(number, f"prompt-{extra}")
                    self._queue_image(part.image, file)
                parts.append(ImageRef(file=file, width=part.image.width, height=part.image.height))
            recorded.append(RecordedMessage(role=message.role, parts=tuple(parts)))
        screenshot, model_image, frame = draft.screenshot, draft.model_image, draft.frame

        def write() -> None:
            prompt = RecordedPrompt(sha256=messages_digest(messages), messages=tuple(recorded)) if messages else None
            timings = dict(draft.timings)
            executed = [a.executed for a in draft.actions if a.executed is not None]
            if executed:
                timings["check_s"] = sum(e.check_s for e in executed)
                timings["execute_s"] = sum(e.execute_s for e in executed)
            record = StepRecord(
                line=line,
                step=number,
                started=draft.started,
                ended=ended,
                screenshot=screenshot,
                model_image=model_image,
                frame=frame,
                cursor=draft.cursor,
                prompt=prompt,
                reply=draft.reply,
                thought=draft.thought,
                parse_error=draft.parse_error,
                actions=tuple(draft.actions),
                events=tuple(draft.events),
                timings=timings,
                effect=draft.effect,
            )
            self._writer.append_line(dumps_line(record.to_json()))

        self._writer.put(write, _STEPS_LINE)
