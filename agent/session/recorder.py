"""The session recorder: turns a run's events into a session folder (format: agent/session/format.py).

On the loop's thread `handle(event)` only gathers fields and queues work: PNG encoding, hashing the prompt
and writing go to one background writer thread, in order. A step's line is queued after its images, so it
is written only once they are in place. `close()` drains the queue; a failure of the writer is raised
there (as SessionError), never swallowed, and the writer stops writing lines at the first failure.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from PIL import Image

from agent.errors import SessionError
from agent.events import (
    ActionBlocked,
    ActionExecuted,
    ActionProposed,
    ActionRejected,
    Event,
    ModelReplied,
    ParseFailed,
    ReplyParsed,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
    ScreenCaptured,
    StepStarted,
)
from agent.parsing import ParsedReply
from agent.prompts import ImagePart, Message
from agent.session.format import (
    HEADER,
    IMAGES,
    SCHEMA_VERSION,
    STEPS,
    TMP_SUFFIX,
    dumps_line,
    frame_to_json,
    image_name,
    messages_digest,
    verdict_to_json,
    write_atomically,
)
from sandbox.actions import action_to_json

PNG_COMPRESS_LEVEL = 1  # 1920x1080 in ~70 ms (level 6: ~120 ms, 20% larger files at level 1); off the loop anyway
QUEUE_JOBS = 16  # the loop blocks only when the writer is this far behind (never with a real model's pace)
KNOWN_IMAGES = 16  # model images remembered, to name the file of each image in a later prompt
_Job = Callable[[], None]


def deskpilot_version() -> str:
    try:
        return metadata.version("deskpilot")
    except metadata.PackageNotFoundError:
        return "unknown"


def _open_dir(path: Path) -> int | None:
    """A folder's descriptor for fsync (POSIX); None where folders cannot be opened (Windows)."""
    try:
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


class _Writer:
    """One background thread doing the session's file work in order; the first error stops it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.error: BaseException | None = None
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=QUEUE_JOBS)
        self._steps_fd = os.open(folder / STEPS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._dir_fds = [fd for fd in (_open_dir(folder), _open_dir(folder / IMAGES)) if fd is not None]
        self._thread = threading.Thread(target=self._work, name="deskpilot-session-writer", daemon=True)
        self._thread.start()

    def put(self, job: _Job) -> None:
        if self.error is None:
            self._jobs.put(job)

    def drain(self) -> None:
        """Wait until every queued job is done."""
        self._jobs.join()

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()
        for fd in (self._steps_fd, *self._dir_fds):
            os.close(fd)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                if self.error is None:
                    job()
            except BaseException as exc:  # reported by close(); nothing after it is written
                self.error = exc
            finally:
                self._jobs.task_done()

    def write_image(self, image: Image.Image, name: str) -> None:
        path = self.folder / name
        tmp = path.with_name(path.name + TMP_SUFFIX)
        with open(tmp, "wb") as stream:
            image.save(stream, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)

    def sync_folders(self) -> None:
        """fsync the session and images folders: the renames before are durable (power loss included)."""
        for fd in self._dir_fds:
            os.fsync(fd)

    def append_line(self, data: bytes) -> None:
        """One write of one whole line, then fsync: a killed process leaves whole lines only."""
        self.sync_folders()  # every file the line names is durably in place first
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
        self._step: dict[str, Any] | None = None
        self._messages: tuple[Message, ...] = ()
        self._images: list[tuple[weakref.ref[Image.Image], str]] = []
        self._closed = False
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
            RunFinished: self._finished,
        }

    @property
    def error(self) -> BaseException | None:
        return self._writer.error

    def handle(self, event: Event) -> None:
        """Take one event of the run. Never raises for a write failure: close() reports it."""
        handler = self._handlers.get(type(event))
        if handler is not None and not self._closed:
            handler(event)

    def drain(self) -> None:
        """Wait until everything handled so far is on disk (for benchmarks and tests)."""
        self._writer.drain()

    def close(self) -> None:
        """Write what is pending, wait for the writer, and raise SessionError if anything failed."""
        if self._closed:
            return
        self._commit()
        self._closed = True
        self._writer.close()
        if self._writer.error is not None:
            exc = self._writer.error
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise SessionError(f"recording the session in {self.folder} failed: {detail}")

    def __enter__(self) -> SessionRecorder:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- events -----------------------------------------------------------------------------------------

    def _started(self, event: RunStarted) -> None:
        now = time.time()
        header = {
            "schema": SCHEMA_VERSION,
            "kind": "deskpilot-session",
            "task": event.task,
            "backend": event.backend,
            "model": event.model,
            "family": event.family,
            "min_pixels": event.min_pixels,
            "max_pixels": event.max_pixels,
            "screen": event.screen.to_json(),
            "monitor": event.monitor,
            "policy_digest": event.policy_digest,
            "deskpilot_version": deskpilot_version(),
            "started": datetime.fromtimestamp(now, timezone.utc).astimezone().isoformat(timespec="milliseconds"),
            "t": now,
            "run": self._run,
        }
        data = dumps_line(header)
        self._writer.put(lambda: write_atomically(self.folder / HEADER, data))

    def _step_started(self, event: StepStarted) -> None:
        self._commit()
        self._messages = ()
        self._step = {
            "kind": "step",
            "step": event.step,
            "started": time.time(),
            "ended": None,
            "screenshot": None,
            "model_image": None,
            "frame": None,
            "cursor": None,
            "prompt": None,
            "reply": None,
            "thought": None,
            "parse_error": None,
            "actions": [],
            "events": [],
            "timings": {},
        }

    def _captured(self, event: ScreenCaptured) -> None:
        step = self._current(event.step)
        screen_file = image_name(event.step, "screen")
        self._queue_image(event.screenshot, screen_file)
        model_file = screen_file
        if event.model_image is not event.screenshot:
            model_file = image_name(event.step, "model")
            self._queue_image(event.model_image, model_file)
        self._remember(event.model_image, model_file)
        step["screenshot"] = {"file": screen_file, "width": event.screenshot.width, "height": event.screenshot.height}
        step["model_image"] = {"file": model_file, "width": event.model_image.width, "height": event.model_image.height}
        step["frame"] = frame_to_json(event.frame)
        step["cursor"] = list(event.cursor) if event.cursor is not None else None
        step["timings"].update(settle_s=event.settle_s, capture_s=event.capture_s, prepare_s=event.prepare_s)

    def _replied(self, event: ModelReplied) -> None:
        step = self._current(event.step)
        self._messages = event.messages
        step["reply"] = {
            "raw": event.raw,
            "input_tokens": event.input_tokens,
            "output_tokens": event.output_tokens,
            "image_tokens": event.image_tokens,
        }
        step["timings"]["model_s"] = event.elapsed_s

    def _parsed(self, event: ReplyParsed) -> None:
        step = self._current(event.step)
        step["thought"] = event.thought
        step["timings"]["parse_s"] = event.parse_s
        step["actions"] = [
            {
                "index": i,
                "model": p.model,
                "screen": action_to_json(p.action),
                "box": list(p.box) if p.box is not None else None,
                "source": p.source,
                "verdict": None,
                "rejected": None,
                "blocked": None,
                "executed": None,
            }
            for i, p in enumerate(event.actions)
        ]

    def _parse_failed(self, event: ParseFailed) -> None:
        self._current(event.step)["parse_error"] = event.error

    def _action(self, step: int, index: int) -> dict[str, Any]:
        actions: list[dict[str, Any]] = self._current(step)["actions"]
        while len(actions) <= index:  # an event without its ReplyParsed (not from run_task): keep what came
            actions.append(
                {
                    "index": len(actions),
                    "model": None,
                    "screen": None,
                    "box": None,
                    "source": None,
                    "verdict": None,
                    "rejected": None,
                    "blocked": None,
                    "executed": None,
                }
            )
        return actions[index]

    def _proposed(self, event: ActionProposed) -> None:
        action = self._action(event.step, event.index)
        action["verdict"] = verdict_to_json(event.verdict)
        if action["screen"] is None:
            action["screen"] = action_to_json(event.parsed.action)

    def _blocked(self, event: ActionBlocked) -> None:
        self._action(event.step, event.index)["blocked"] = {
            "action": action_to_json(event.action),
            **verdict_to_json(event.verdict),
        }

    def _rejected(self, event: ActionRejected) -> None:
        self._action(event.step, event.index)["rejected"] = {"note": event.note}

    def _executed(self, event: ActionExecuted) -> None:
        self._action(event.step, event.index)["executed"] = {
            "action": action_to_json(event.action),
            "edited": event.edited,
            "confirmed": event.confirmed,
            "at": time.time(),
            "check_s": event.check_s,
            "execute_s": event.execute_s,
        }

    def _paused(self, event: RunPaused) -> None:
        self._current(event.step)["events"].append({"kind": "paused", "reason": event.reason, "at": time.time()})

    def _resumed(self, event: RunResumed) -> None:
        self._current(event.step)["events"].append({"kind": "resumed", "at": time.time()})

    def _finished(self, event: RunFinished) -> None:
        self._commit()
        end = {
            "kind": "end",
            "outcome": event.outcome,
            "reason": event.reason,
            "steps": event.steps,
            "answer": event.answer,
            "ended": time.time(),
        }
        data = dumps_line(end)
        self._writer.put(lambda: self._writer.append_line(data))

    # -- helpers ----------------------------------------------------------------------------------------

    def _current(self, step: int) -> dict[str, Any]:
        if self._step is None or self._step["step"] != step:
            self._step_started(StepStarted(step))
        assert self._step is not None
        return self._step

    def _queue_image(self, image: Image.Image, name: str) -> None:
        self._writer.put(lambda: self._writer.write_image(image, name))

    def _remember(self, image: Image.Image, name: str) -> None:
        self._images = [(ref, file) for ref, file in self._images[-(KNOWN_IMAGES - 1) :] if ref() is not None]
        self._images.append((weakref.ref(image), name))

    def _file_of(self, image: Image.Image) -> str | None:
        return next((file for ref, file in reversed(self._images) if ref() is image), None)

    def _commit(self) -> None:
        """Queue the pending step's line (after its images); the prompt is hashed on the writer thread."""
        step, self._step = self._step, None
        if step is None or step["screenshot"] is None:  # nothing was captured: there is nothing to replay or show
            return
        messages, number = self._messages, step["step"]
        step["ended"] = time.time()
        parts: list[list[dict[str, Any]]] = []
        extra = 0
        for message in messages:
            parts.append([])
            for part in message.parts:
                if not isinstance(part, ImagePart):
                    parts[-1].append({"type": "text", "text": part.text})
                    continue
                file = self._file_of(part.image)
                if file is None:  # an image this recorder never saw as a model image: keep it too
                    extra += 1
                    file = image_name(number, f"prompt-{extra}")
                    self._queue_image(part.image, file)
                parts[-1].append(
                    {"type": "image", "file": file, "width": part.image.width, "height": part.image.height}
                )

        def write() -> None:
            if messages:
                step["prompt"] = {
                    "sha256": messages_digest(messages),
                    "messages": [{"role": m.role, "parts": p} for m, p in zip(messages, parts)],
                }
            timings = step["timings"]
            executed = [a["executed"] for a in step["actions"] if a["executed"] is not None]
            if executed:
                timings["check_s"] = sum(e["check_s"] for e in executed)
                timings["execute_s"] = sum(e["execute_s"] for e in executed)
            self._writer.append_line(dumps_line(step))

        self._writer.put(write)


class BenchRecorder:
    """bench/overhead.py's hook: one call records one step, as the loop would; `drain` waits for the writer."""

    def __init__(self, folder: Path) -> None:
        from agent.families import get_family, model_frame
        from sandbox.geometry import ScreenGeometry

        self._family = get_family("ui-tars-1.5")
        self._frame = model_frame
        self.recorder = SessionRecorder(folder, run={"mode": "bench"})
        self.recorder.handle(
            RunStarted(
                "bench",
                "bench",
                None,
                self._family.name,
                self._family.min_pixels,
                self._family.max_pixels,
                ScreenGeometry.single(1920, 1080),
                0,
                "",
            )
        )
        self._step = 0

    @property
    def folder(self) -> Path:
        return self.recorder.folder

    def __call__(self, screenshot: Image.Image, model_image: Image.Image, reply: ParsedReply) -> None:
        from agent.prompts import TextPart
        from sandbox.policy import ALLOW

        self._step += 1
        n, handle = self._step, self.recorder.handle
        frame = self._frame(self._family, *screenshot.size)
        messages = (
            Message("system", (TextPart("You are a GUI agent."),)),
            Message("user", (TextPart("click Save"), ImagePart(model_image))),
        )
        handle(StepStarted(n))
        handle(ScreenCaptured(n, screenshot, model_image, frame, None, 0.0, 0.0, 0.0))
        handle(ModelReplied(n, "Thought: bench\nAction: click(start_box='(1,1)')", messages, 0.0, None, None, None))
        handle(ReplyParsed(n, reply.thought, reply.actions, 0.0))
        for index, parsed in enumerate(reply.actions):
            handle(ActionProposed(n, index, parsed, ALLOW))
            handle(ActionExecuted(n, index, parsed.action, False, False, 0.0, 0.0))

    def drain(self) -> None:
        self.recorder.drain()

    def close(self) -> None:
        self.recorder.close()


def bench_recorder(folder: Path) -> BenchRecorder:
    """A per-step recording callable for bench/overhead.py (its cost on the loop's thread is what it times)."""
    return BenchRecorder(folder)
