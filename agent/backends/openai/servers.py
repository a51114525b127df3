"""What deskpilot knows of each OpenAI-compatible server: how large an image it keeps whole, and how it takes tools
and chat-template options. A server not named (`generic`) is asked, by a probe, for the image part.

Why: Qwen2.5-VL and UI-TARS-1.5 answer in pixels of the image they read. A server that shrinks the screenshot
(Ollama, LM Studio, llama.cpp, DashScope) makes them answer in the shrunk image, and deskpilot, mapping back from
the size it sent, would click off target. So deskpilot prepares the screenshot at a size the server keeps, and
maps back from exactly that size (agent.picture.prepare_for_model), or it does not act. Sources for each limit:
docs/serving.md, section "Sources".

The probe (`probe_budget`) sends tiny requests (a fixed text, 1 new token) with plain images: a reference of
REFERENCE_GRID² image tokens, which servers keep, and the size deskpilot would send. The rest of the prompt being
the same, the difference of their `usage.prompt_tokens` is the difference of the image tokens the server used, so
it says how many tokens the server really read of the screenshot, and so its pixel budget. A lowered budget is
checked by one more probe. No usage, or usage blind to the image: no guess, a refusal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agent.errors import BackendError
from agent.families import Family, PixelBudget, model_input_size

SERVERS = ("vllm", "sglang", "ollama", "lmstudio", "llamacpp", "dashscope", "generic")
DEFAULT_SERVER = "generic"
# Ollama's Go engine: Qwen2.5-VL smart_resize with maxPixels 2<<20 (model/models/qwen25vl/process_image.go), and
# Qwen3-VL's longestEdge hard-coded to the same 2<<20 pixels (model/models/qwen3vl/imageprocessor.go)
OLLAMA_MAX_PIXELS = 2 << 20  # 2,097,152 px
# LM Studio's image setting "Never exceed 2048 px" on the longest edge (lmstudio-bug-tracker #990)
LMSTUDIO_MAX_LONG_EDGE_PX = 2048
# llama.cpp's mtmd smart resize: --image-max-tokens, 4096 for Qwen-VL since PR #17020 (one token: factor² px)
LLAMACPP_MAX_IMAGE_TOKENS = 4096
# DashScope: at most 1280 image tokens unless the request sets vl_high_resolution_images
DASHSCOPE_MAX_IMAGE_TOKENS = 1280
# The reference probe image: 32x32 tokens (1024). No server we know shrinks it, and the smallest image budget that
# llama.cpp's downstreams set for grounding is 1024 tokens (lemonade-sdk #2513), so none grows it either.
REFERENCE_GRID = 32
PROBE_TEXT = "Reply with the word OK."
PROBE_REQUESTS = 3  # the reference, the screenshot's size, and a lowered size when the server shrank that one

OptionsAs = Literal["chat_template_kwargs", "reasoning_effort", "enable_thinking"]


@dataclass(frozen=True, slots=True)
class Preset:
    """A named server: its image limit beyond the model's processor (None: none) and its request dialect."""

    max_pixels: int | None = None
    max_image_tokens: int | None = None  # each factor² px
    max_long_edge_px: int | None = None
    tool_choice: str | None = None  # None: not sent, the server's default
    options_as: OptionsAs = "chat_template_kwargs"  # how the chat template's options travel


PRESETS: dict[str, Preset] = {
    # vLLM: tool_choice "auto" (its default when tools are given) needs --enable-auto-tool-choice and a
    # --tool-call-parser; "none" keeps the tools in the prompt (unless --exclude-tools-when-tool-choice-none) and
    # leaves the call in the text for deskpilot's parser, with or without a parser.
    "vllm": Preset(tool_choice="none"),
    # SGLang drops the tools from the chat template on "none"; "auto" without --tool-call-parser leaves the text.
    "sglang": Preset(tool_choice="auto"),
    # Ollama's /v1 ignores chat_template_kwargs; its thinking switch there is reasoning_effort "none".
    "ollama": Preset(max_pixels=OLLAMA_MAX_PIXELS, options_as="reasoning_effort"),
    # LM Studio runs GGUF models through llama.cpp, whose token limit then applies as well.
    "lmstudio": Preset(max_long_edge_px=LMSTUDIO_MAX_LONG_EDGE_PX, max_image_tokens=LLAMACPP_MAX_IMAGE_TOKENS),
    "llamacpp": Preset(max_image_tokens=LLAMACPP_MAX_IMAGE_TOKENS),
    # DashScope takes enable_thinking as a field of the request.
    "dashscope": Preset(max_image_tokens=DASHSCOPE_MAX_IMAGE_TOKENS, options_as="enable_thinking"),
    # Not named: the image limit is probed, and tool_choice is left to the server ("auto" where tools are given).
    # Only a vLLM without a tool-call parser refuses that, with an HTTP 400 that deskpilot answers by naming
    # --server vllm; "none" instead would make SGLang and several MLX servers drop the tools without a word.
    "generic": Preset(),
}
NAMED = tuple(name for name in SERVERS if name != "generic")
NAME_OR_CAP = f"name it with --server ({', '.join(NAMED)}) or give --max-pixels below its image limit"
WAY_ON = (
    f"name the server with --server ({', '.join(NAMED)}), give --max-pixels below its image limit, lift the limit "
    "on the server (docs/serving.md), or use a relative-coordinate family (qwen3-vl)"
)

# prompt tokens the server counts for a probe with a plain image of (width, height); None: it reports no usage
CountTokens = Callable[[tuple[int, int]], "int | None"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """No budget the server is known to keep. `unverifiable`: its usage cannot tell (none, or blind to images)."""

    reason: str
    unverifiable: bool = False


def request_fields(server: str, tools: Sequence[dict[str, Any]], options: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """The request's tools and chat-template options (qwen3.5) in the form `server` takes them."""
    preset = PRESETS[server]
    fields: dict[str, Any] = {}
    if tools:
        fields["tools"] = list(tools)
        if preset.tool_choice is not None:
            fields["tool_choice"] = preset.tool_choice
    given = dict(options)
    if not given:
        return fields
    if preset.options_as == "chat_template_kwargs":
        fields["chat_template_kwargs"] = given
    elif preset.options_as == "reasoning_effort":
        if given.get("enable_thinking") is False:
            fields["reasoning_effort"] = "none"
    elif "enable_thinking" in given:
        fields["enable_thinking"] = given["enable_thinking"]
    return fields


def preset_budget(server: str, family: Family, shot: tuple[int, int], budget: PixelBudget) -> PixelBudget:
    """`budget` lowered to what the named server keeps whole (never raised); BackendError when even the least
    budget allowed (its min_pixels) is more than the server keeps."""
    preset = PRESETS[server]
    if family.fixed_input is not None:
        return budget
    token_px = family.factor**2
    caps = [budget.max_pixels]
    if preset.max_pixels is not None:
        caps.append(preset.max_pixels // token_px * token_px)
    if preset.max_image_tokens is not None:
        caps.append(preset.max_image_tokens * token_px)
    capped = PixelBudget(budget.min_pixels, min(caps))
    long_edge = preset.max_long_edge_px
    fitted: PixelBudget | None = capped
    if capped.max_pixels >= capped.min_pixels and long_edge is not None:
        fitted = largest_budget(family, shot, capped, lambda size: max(size) <= long_edge)
    if fitted is None or fitted.max_pixels < budget.min_pixels:
        raise BackendError(
            f"--server {server} keeps images of at most {_limit(preset, family)}, less than the smallest image "
            f"allowed here (min_pixels {budget.min_pixels}, the family's or --min-pixels): lower --min-pixels"
        )
    return fitted if fitted.max_pixels < budget.max_pixels else budget


def largest_budget(
    family: Family, shot: tuple[int, int], budget: PixelBudget, keeps: Callable[[tuple[int, int]], bool]
) -> PixelBudget | None:
    """The largest factor-aligned max_pixels within `budget` whose image `keeps` accepts (the image grows with the
    budget, so a bisection finds it); `budget` itself when its image is accepted, None when none is."""
    token_px = family.factor**2

    def size(tokens: int) -> tuple[int, int]:
        return model_input_size(family, *shot, min_pixels=budget.min_pixels, max_pixels=tokens * token_px)

    if keeps(model_input_size(family, *shot, min_pixels=budget.min_pixels, max_pixels=budget.max_pixels)):
        return budget
    low, high = -(-budget.min_pixels // token_px), budget.max_pixels // token_px
    if low > high or not keeps(size(low)):
        return None
    while low < high:
        middle = (low + high + 1) // 2
        if keeps(size(middle)):
            low = middle
        else:
            high = middle - 1
    return PixelBudget(budget.min_pixels, low * token_px)


def probe_budget(
    family: Family,
    shot: tuple[int, int],
    budget: PixelBudget,
    *,
    count: CountTokens,
    where: str,
    announce: Callable[[str], None] | None = None,
) -> PixelBudget | Refusal:
    """The budget whose images the server at `where` keeps as they are: `budget`, or the largest factor-aligned
    one under the pixel budget the server showed (checked once more); a Refusal when there is none (see top).
    `announce` is told before each request what it is for: each may take a slow server its whole deadline."""
    asked = 0

    def ask(size: tuple[int, int]) -> int | None:
        nonlocal asked
        asked += 1
        if announce is not None:
            announce(
                f"checking how large an image the server at {where} keeps for {family.name} "
                f"(request {asked} of at most {PROBE_REQUESTS})"
            )
        return count(size)

    return _probe(family, shot, budget, count=ask, where=where)


def _probe(
    family: Family, shot: tuple[int, int], budget: PixelBudget, *, count: CountTokens, where: str
) -> PixelBudget | Refusal:
    token_px = family.factor**2
    sent = model_input_size(family, *shot, min_pixels=budget.min_pixels, max_pixels=budget.max_pixels)
    reference = (REFERENCE_GRID * family.factor, REFERENCE_GRID * family.factor)
    if _tokens(reference, token_px) == _tokens(sent, token_px):
        reference = (REFERENCE_GRID * family.factor, (REFERENCE_GRID - 1) * family.factor)
    base = count(reference)
    whole = count(sent) if base is not None else None
    if base is None or whole is None:
        return Refusal(
            f"the server at {where} reports no token usage, so deskpilot cannot check that it keeps "
            f"{family.name} screenshots whole (a resized one moves every click); {NAME_OR_CAP}",
            unverifiable=True,
        )
    if whole == base:
        return Refusal(
            f"the server at {where} reports the same prompt_tokens for a {_x(sent)} and a {_x(reference)} image, "
            f"so deskpilot cannot check that it keeps {family.name} screenshots whole; {NAME_OR_CAP}",
            unverifiable=True,
        )
    seen = whole - base + _tokens(reference, token_px)  # image tokens the server used for `sent`
    wanted = _tokens(sent, token_px)
    if seen == wanted:
        return budget
    resized = (
        f"the server at {where} resized the {_x(sent)} screenshot deskpilot prepared for {family.name} (it read "
        f"{seen} image tokens, not {wanted})"
    )
    lowered = PixelBudget(budget.min_pixels, seen * token_px)
    if seen > wanted or lowered.max_pixels < budget.min_pixels:
        return Refusal(f"{resized}; an absolute-coordinate model would click off target; {WAY_ON}")
    again = model_input_size(family, *shot, min_pixels=lowered.min_pixels, max_pixels=lowered.max_pixels)
    checked = count(again)
    if checked is None:
        return Refusal(f"{resized}, then reported no token usage; {NAME_OR_CAP}", unverifiable=True)
    seen_again, wanted_again = checked - base + _tokens(reference, token_px), _tokens(again, token_px)
    if seen_again != wanted_again:
        return Refusal(
            f"{resized}, and a {_x(again)} one too ({seen_again} image tokens, not {wanted_again}); an "
            f"absolute-coordinate model would click off target; {WAY_ON}"
        )
    return lowered


def _tokens(size: tuple[int, int], token_px: int) -> int:
    return size[0] * size[1] // token_px


def _x(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _limit(preset: Preset, family: Family) -> str:
    parts = []
    if preset.max_pixels is not None:
        parts.append(f"{preset.max_pixels} px")
    if preset.max_image_tokens is not None:
        parts.append(f"{preset.max_image_tokens} image tokens ({preset.max_image_tokens * family.factor**2} px)")
    if preset.max_long_edge_px is not None:
        parts.append(f"a {preset.max_long_edge_px} px long edge")
    return " and ".join(parts) or "what the model's processor allows"
