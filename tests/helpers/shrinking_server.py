"""A local OpenAI-compatible server that reads images the way the local runtimes do (a FaultServer underneath).

It decodes every image of a chat request from its data URL and resizes it as a server would before the model
sees it: Ollama's smart_resize (factor 28, at most 2,097,152 px; `OLLAMA`), an older LM Studio's long edge
(`long_edge=500`), or not at all beyond the model's own processor range (`faithful()`). It reports
`usage.prompt_tokens` as a fixed count for the text plus the image tokens of the images it really used (none at
all with `usage=False`), and it answers as a model looking at the image it used would: a click on the target the
test placed on the screen, in pixels of that image (or 0-1000 for a relative family), then `terminate`. A request
for one token (a size probe) gets "OK".
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image

from sandbox.geometry import smart_resize
from tests.helpers.fault_server import FaultServer, _Handler, completion, reply

OLLAMA_MAX_PIXELS = 2 << 20  # model/models/qwen25vl/process_image.go: maxPixels
OLLAMA_MIN_PIXELS = 56 * 56
PROCESSOR_MIN_PIXELS = 3136  # Qwen2.5-VL's preprocessor_config.json: what a faithful server keeps
PROCESSOR_MAX_PIXELS = 12845056
TOKENS_PER_MESSAGE = 4  # <|im_start|>, the role, a newline, <|im_end|>


@dataclass(frozen=True, slots=True)
class Read:
    """One image of a request: the size that arrived and the size the model read."""

    sent: tuple[int, int]
    used: tuple[int, int]


class ShrinkingServer(FaultServer):
    """Resizes images as `max_pixels` / `long_edge` say; `target` is where the thing to click is, as a fraction
    of the screen's width and height (the model sees it there in whatever image it gets)."""

    def __init__(
        self,
        *,
        max_pixels: int = OLLAMA_MAX_PIXELS,
        min_pixels: int = OLLAMA_MIN_PIXELS,
        long_edge: int | None = None,
        factor: int = 28,
        coords: Literal["absolute", "relative"] = "absolute",
        usage: bool = True,
    ) -> None:
        super().__init__()
        self.max_pixels, self.min_pixels, self.long_edge = max_pixels, min_pixels, long_edge
        self.factor, self.coords, self.usage = factor, coords, usage
        self.target = (0.5, 0.5)
        self.chats: list[tuple[dict[str, Any], list[Read]]] = []  # each chat request, and its images as read
        self.defaults["/v1/chat/completions"] = self._answer

    @classmethod
    def faithful(cls, **options: Any) -> ShrinkingServer:
        """A server that keeps what the model's processor allows (vLLM, SGLang with the model's own config)."""
        return cls(max_pixels=PROCESSOR_MAX_PIXELS, min_pixels=PROCESSOR_MIN_PIXELS, **options)

    def aim_at(self, point: tuple[int, int], screen: tuple[int, int]) -> None:
        self.target = (point[0] / screen[0], point[1] / screen[1])

    def probes(self) -> list[list[Read]]:
        """The images of each size probe (a request for one token)."""
        return [reads for body, reads in self.chats if body.get("max_tokens") == 1]

    def steps(self) -> list[list[Read]]:
        """The images of each step's request (every chat request but the probes)."""
        return [reads for body, reads in self.chats if body.get("max_tokens") != 1]

    def resize(self, width: int, height: int) -> tuple[int, int]:
        if self.long_edge is not None and max(width, height) > self.long_edge:
            scale = self.long_edge / max(width, height)
            width, height = max(1, round(width * scale)), max(1, round(height * scale))
        h, w = smart_resize(height, width, factor=self.factor, min_pixels=self.min_pixels, max_pixels=self.max_pixels)
        return w, h

    def _answer(self, handler: _Handler, server: FaultServer) -> None:
        body = handler.seen.body
        text_tokens, reads = 0, []
        for message in body["messages"]:
            text_tokens += TOKENS_PER_MESSAGE
            content = message["content"]
            for part in [{"type": "text", "text": content}] if isinstance(content, str) else content:
                if part["type"] == "text":
                    text_tokens += len(part["text"].split())
                else:
                    sent = _decoded_size(part["image_url"]["url"])
                    reads.append(Read(sent, self.resize(*sent)))
        self.chats.append((body, reads))
        image_tokens = sum(r.used[0] * r.used[1] // self.factor**2 for r in reads)
        if body.get("max_tokens") == 1:
            answer = completion("OK")
        elif not any(m["role"] == "assistant" for m in body["messages"]):
            answer = completion(self._click(reads[-1].used))
        else:
            answer = completion(_call("terminate", status="success"))
        answer["usage"] = {"prompt_tokens": text_tokens + image_tokens, "completion_tokens": 20}
        if not self.usage:
            del answer["usage"]
        reply(body=answer)(handler, server)

    def _click(self, used: tuple[int, int]) -> str:
        """A click where a model looking at an image of size `used` sees the target (integers, as models write)."""
        extent = (1000, 1000) if self.coords == "relative" else used
        x, y = (round(fraction * side) for fraction, side in zip(self.target, extent))
        return _call("left_click", coordinate=[x, y])


def _call(action: str, **arguments: object) -> str:
    body = json.dumps({"name": "computer_use", "arguments": {"action": action, **arguments}})
    return f"<tool_call>\n{body}\n</tool_call>"


def _decoded_size(url: str) -> tuple[int, int]:
    head, _, payload = url.partition(",")
    if not head.startswith("data:") or not head.endswith(";base64"):
        raise ValueError(f"not a base64 data URL: {url[:40]!r}")
    with Image.open(io.BytesIO(base64.b64decode(payload, validate=True))) as image:
        image.load()
        return image.size
