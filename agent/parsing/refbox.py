"""Qwen-VL (v1) `<ref>..</ref><box>(x1,y1),(x2,y2)</box>` and Qwen2-VL `<|box_start|>` grounding.

Both are relative 0-1000 boxes (or, for Qwen2-VL, points); each box is a left click at its centre.
Qwen2-VL replies decoded with skip_special_tokens=True lose the tokens and read `label(x1,y1),(x2,y2)`;
that form is accepted too, as are the `<|extra_0|>`..`<|extra_3|>` aliases a mismatched tokenizer prints.
"""

from __future__ import annotations

import re

from agent.errors import ParseError
from agent.parsing.common import NUMBER_RE, Proposal, ProposedClick, click_at, click_at_box, quote

_N = NUMBER_RE.pattern
_PAIR = rf"\(\s*({_N})\s*,\s*({_N})\s*\)"
_BOX_PAIRS = re.compile(rf"{_PAIR}\s*,\s*{_PAIR}")
_SINGLE = re.compile(rf"^\s*{_PAIR}\s*$")
_V1_BOX = re.compile(r"<box>(.*?)</box>", re.S)
_V1_TAGS = re.compile(r"</?(ref|box|quad)>|<img>.*?</img>", re.S)
_V2_BOX = re.compile(r"<\|box_start\|>(.*?)<\|box_end\|>", re.S)
_V2_ALIASES = {
    "<|extra_0|>": "<|object_ref_start|>",
    "<|extra_1|>": "<|object_ref_end|>",
    "<|extra_2|>": "<|box_start|>",
    "<|extra_3|>": "<|box_end|>",
}
_V2_TAGS = re.compile(
    r"<\|object_ref_start\|>|<\|object_ref_end\|>|<\|box_start\|>.*?<\|box_end\|>|<\|quad_start\|>.*?<\|quad_end\|>",
    re.S,
)


def parse_qwen_vl(text: str) -> tuple[str | None, list[Proposal]]:
    proposals: list[Proposal] = [_box(m.group(1), m.group(0)) for m in _V1_BOX.finditer(text)]
    if not proposals:
        raise ParseError(f"no <box>(x1,y1),(x2,y2)</box> found in {quote(text)}")
    prose = _V1_TAGS.sub("", _V1_BOX.sub("", text))
    return (prose.strip() or None), proposals


def parse_qwen2_vl(text: str) -> tuple[str | None, list[Proposal]]:
    for alias, token in _V2_ALIASES.items():
        text = text.replace(alias, token)
    blocks = list(_V2_BOX.finditer(text))
    proposals: list[Proposal]
    if blocks:
        proposals = [_box_or_point(m.group(1), m.group(0)) for m in blocks]
        prose = _V2_TAGS.sub("", text)
    else:  # special tokens stripped at decode time: "label(x1,y1),(x2,y2)"
        proposals = [_box(m.group(0), m.group(0)) for m in _BOX_PAIRS.finditer(text)]
        prose = _BOX_PAIRS.sub("", text)
        if not proposals:
            raise ParseError(f"no <|box_start|>(x1,y1),(x2,y2)<|box_end|> found in {quote(text)}")
    return (prose.strip() or None), proposals


def _box(body: str, source: str) -> ProposedClick:
    match = _BOX_PAIRS.fullmatch(body.strip())
    if not match:
        raise ParseError(f"a box must read (x1,y1),(x2,y2), got {quote(source)}")
    x1, y1, x2, y2 = (float(v) for v in match.groups())
    return click_at_box((x1, y1, x2, y2), source)


def _box_or_point(body: str, source: str) -> ProposedClick:
    single = _SINGLE.match(body)
    if single:
        return click_at((float(single.group(1)), float(single.group(2))), source)
    return _box(body, source)
