"""Tiny random-weight Qwen-VL models built offline, laid out on disk like a downloaded Hub directory.

The weights are random, everything else is the real thing at toy size: the model class, the vision
patch/merge/temporal geometry (so image token counts follow the real formula), a byte-level BPE
tokenizer with the Qwen special tokens, the family's chat template, and processor configs in the
exact format of the published repositories (docs/model-formats.md §4, §5).

Models: "qwen2.5-vl", "qwen3-vl", "qwen3.5" (dense: Gated DeltaNet linear attention mixed with full
attention, as the published Qwen3.5 `layer_types`) and "qwen3.5-moe" (the same with routed experts).
`write_model_files` writes everything but the weights, so bench/gpu_step.py can pair the real processor
path with random weights in the published shapes without saving gigabytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Qwen2/2.5/3-VL token ids start here in the real vocabulary (docs/model-formats.md §5); the tiny BPE
# vocabulary comes first, then these tokens in the same order, so their relative layout is real.
SPECIAL = (  # (content, special) in the order of the real tokenizer_config.json
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
)
QWEN3_EXTRA = (("<tool_response>", False), ("</tool_response>", False), ("<think>", False), ("</think>", False))
ADDITIONAL_SPECIAL = tuple(t for t, special in SPECIAL[1:] if special)

# Qwen2 pre-tokenizer split (transformers' Qwen2Tokenizer uses the same one).
PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
    r"""\s*[\r\n]+|\s+(?!\S)|\s+"""
)
# Qwen3.5's split keeps combining marks with their letters (transformers' Qwen3_5Tokenizer uses the same one).
PRETOKENIZE_REGEX_35 = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|"""
    r"""\s*[\r\n]+|\s+(?!\S)|\s+"""
)

CORPUS = (
    "You are a helpful assistant.",
    "Click the OK button in the dialog. Open the File menu, then Save As...",
    "I will click on the search box at the top of the window.\nAction: click(start_box='(235,512)')",
    '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [966, 546]}}\n'
    "</tool_call>",
    '{"action": "type", "text": "hello world"} {"action": "key", "keys": ["ctrl", "a"]} '
    '{"action": "scroll", "pixels": -500}',
    '[{"bbox_2d": [12, 34, 567, 890], "label": "button"}, {"point_2d": [100, 200], "label": "icon"}]',
    "0123456789 10 20 50 100 250 500 999 1000 1920 1080 2560 1440 -3.5 +7 0.25",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "Thought: The settings icon is in the upper right corner.\nAction: finished(content='done')",
    "点击确定按钮。打开文件菜单，然后选择另存为。搜索框在窗口顶部。你好，世界！",
    "设置 图标 在 右上角 。 输入 文本 并 按 回车 键 。 滚动 页面 向下",
)


@dataclass(frozen=True)
class _Spec:
    family: str  # the deskpilot family the model is read as (agent/families.py)
    architecture: str
    model_type: str
    processor_class: str
    patch_size: int
    chat_template_file: str
    special: tuple[tuple[str, bool], ...]


SPECS = {
    "qwen2.5-vl": _Spec(
        "qwen2.5-vl",
        "Qwen2_5_VLForConditionalGeneration",
        "qwen2_5_vl",
        "Qwen2_5_VLProcessor",
        14,
        "chat_template.json",
        SPECIAL,
    ),
    "qwen3-vl": _Spec(
        "qwen3-vl",
        "Qwen3VLForConditionalGeneration",
        "qwen3_vl",
        "Qwen3VLProcessor",
        16,
        "chat_template.jinja",
        SPECIAL + QWEN3_EXTRA,
    ),
    # Qwen3.5 keeps Qwen3-VL's processor (Qwen3VLProcessor, patch 16, merge 2) and the relative layout of the
    # special tokens (real ids start at 248044: <|image_pad|> 248056, <|im_end|> 248046, <think> 248068).
    "qwen3.5": _Spec(
        "qwen3.5",
        "Qwen3_5ForConditionalGeneration",
        "qwen3_5",
        "Qwen3VLProcessor",
        16,
        "chat_template.jinja",
        SPECIAL + QWEN3_EXTRA,
    ),
    "qwen3.5-moe": _Spec(
        "qwen3.5",
        "Qwen3_5MoeForConditionalGeneration",
        "qwen3_5_moe",
        "Qwen3VLProcessor",
        16,
        "chat_template.jinja",
        SPECIAL + QWEN3_EXTRA,
    ),
}
MERGE_SIZE = 2
TEMPORAL_PATCH_SIZE = 2

# Qwen2-VL / Qwen2.5-VL chat_template.json (ChatML, default system message, one pad per image).
QWEN25_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content "
    "%}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}"
)

_VISION_ITEMS = """\
            {%- for content in message.content %}
                {%- if content.type == 'image' or 'image' in content or 'image_url' in content %}
                    {%- set image_count.value = image_count.value + 1 %}
                    {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}
                    <|vision_start|><|image_pad|><|vision_end|>
                {%- elif content.type == 'video' or 'video' in content %}
                    {%- set video_count.value = video_count.value + 1 %}
                    {%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}
                    <|vision_start|><|video_pad|><|vision_end|>
                {%- elif 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
"""
_SYSTEM_TEXT = """\
    {%- if messages[0].content is string %}
        {{- messages[0].content }}
    {%- else %}
        {%- for content in messages[0].content %}
            {%- if 'text' in content %}
                {{- content.text }}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
"""
# Qwen3-VL-*-Instruct chat_template.jinja: no default system message, optional tools section.
QWEN3_TEMPLATE = (
    "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0].role == 'system' %}\n"
    + _SYSTEM_TEXT
    + "        {{- '\\n\\n' }}\n    {%- endif %}\n"
    '    {{- "# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided '
    'with function signatures within <tools></tools> XML tags:\\n<tools>" }}\n'
    '    {%- for tool in tools %}\n        {{- "\\n" }}\n        {{- tool | tojson }}\n    {%- endfor %}\n'
    '    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within '
    '<tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": '
    '<args-json-object>}\\n</tool_call><|im_end|>\\n" }}\n'
    "{%- else %}\n    {%- if messages[0].role == 'system' %}\n        {{- '<|im_start|>system\\n' }}\n"
    + _SYSTEM_TEXT
    + "        {{- '<|im_end|>\\n' }}\n    {%- endif %}\n{%- endif %}\n"
    "{%- set image_count = namespace(value=0) %}\n{%- set video_count = namespace(value=0) %}\n"
    '{%- for message in messages %}\n    {%- if message.role == "user" %}\n'
    "        {{- '<|im_start|>' + message.role + '\\n' }}\n"
    "        {%- if message.content is string %}\n            {{- message.content }}\n        {%- else %}\n"
    + _VISION_ITEMS
    + "        {%- endif %}\n        {{- '<|im_end|>\\n' }}\n"
    "    {%- elif message.role == \"assistant\" %}\n        {{- '<|im_start|>' + message.role + '\\n' }}\n"
    "        {%- if message.content is string %}\n            {{- message.content }}\n        {%- else %}\n"
    "            {%- for content_item in message.content %}\n                {%- if 'text' in content_item %}\n"
    "                    {{- content_item.text }}\n                {%- endif %}\n            {%- endfor %}\n"
    "        {%- endif %}\n        {%- if message.tool_calls %}\n"
    "            {%- for tool_call in message.tool_calls %}\n"
    "                {%- if (loop.first and message.content) or (not loop.first) %}\n"
    "                    {{- '\\n' }}\n                {%- endif %}\n                {%- if tool_call.function %}\n"
    "                    {%- set tool_call = tool_call.function %}\n                {%- endif %}\n"
    '                {{- \'<tool_call>\\n{"name": "\' }}\n                {{- tool_call.name }}\n'
    '                {{- \'", "arguments": \' }}\n                {%- if tool_call.arguments is string %}\n'
    "                    {{- tool_call.arguments }}\n                {%- else %}\n"
    "                    {{- tool_call.arguments | tojson }}\n                {%- endif %}\n"
    "                {{- '}\\n</tool_call>' }}\n            {%- endfor %}\n        {%- endif %}\n"
    "        {{- '<|im_end|>\\n' }}\n    {%- elif message.role == \"tool\" %}\n"
    '        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}\n'
    "            {{- '<|im_start|>user' }}\n        {%- endif %}\n        {{- '\\n<tool_response>\\n' }}\n"
    "        {%- if message.content is string %}\n            {{- message.content }}\n        {%- else %}\n"
    + _VISION_ITEMS
    + "        {%- endif %}\n        {{- '\\n</tool_response>' }}\n"
    '        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}\n'
    "            {{- '<|im_end|>\\n' }}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n"
)

# A Qwen3.5-style chat_template.jinja, written for these tests after the structure of the published one:
# tools go into the system turn as JSON signatures followed by the XML call form the model writes
# (<tool_call><function=NAME><parameter=P>VALUE</parameter></function></tool_call>), the system text after them;
# images are <|vision_start|><|image_pad|><|vision_end|>; earlier assistant turns after the last real user query
# keep their thought; the generation prompt opens a <think> block, or an empty closed one when enable_thinking
# is false (docs/model-formats.md §5).
QWEN35_TEMPLATE = r"""{%- set image_count = namespace(value=0) %}
{%- set video_count = namespace(value=0) %}
{%- macro render_content(content, count_vision) %}
    {%- if content is string %}
        {{- content }}
    {%- elif content is iterable and content is not mapping %}
        {%- for item in content %}
            {%- if item.type == 'image' or 'image' in item or 'image_url' in item %}
                {%- if count_vision %}
                    {%- set image_count.value = image_count.value + 1 %}
                {%- endif %}
                {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}
                <|vision_start|><|image_pad|><|vision_end|>
            {%- elif item.type == 'video' or 'video' in item %}
                {%- if count_vision %}
                    {%- set video_count.value = video_count.value + 1 %}
                {%- endif %}
                {%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}
                <|vision_start|><|video_pad|><|vision_end|>
            {%- elif 'text' in item %}
                {{- item.text }}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
{%- endmacro %}
{%- if not messages %}
    {{- raise_exception('no messages to render') }}
{%- endif %}
{%- if tools and tools is iterable and tools is not mapping %}
    {{- '<|im_start|>system\n# Tools\n\nThese functions are available:\n\n<tools>' }}
    {%- for tool in tools %}
        {{- '\n' }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- '\n</tools>\n\nTo call a function, reply with the call and nothing after it, in this form:\n\n' }}
    {{- '<tool_call>\n<function=NAME>\n<parameter=PARAMETER>\nVALUE\n</parameter>\n</function>\n</tool_call>\n\n' }}
    {{- 'Rules:\n- the <function=...></function> block sits inside <tool_call></tool_call>\n' }}
    {{- '- every required parameter is given\n- any reasoning comes before the call, never after it\n' }}
    {{- '- when no function fits, answer plainly and do not mention functions' }}
    {%- if messages[0].role == 'system' %}
        {%- set system_text = render_content(messages[0].content, false) | trim %}
        {%- if system_text %}
            {{- '\n\n' + system_text }}
        {%- endif %}
    {%- endif %}
    {{- '<|im_end|>\n' }}
{%- elif messages[0].role == 'system' %}
    {{- '<|im_start|>system\n' + render_content(messages[0].content, false) | trim + '<|im_end|>\n' }}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages | length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages | length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == 'user' %}
        {%- set text = render_content(message.content, false) | trim %}
        {%- if not (text.startswith('<tool_response>') and text.endswith('</tool_response>')) %}
            {%- set ns.multi_step_tool = false %}
            {%- set ns.last_query_index = index %}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.role == 'system' %}
        {%- if not loop.first %}
            {{- '<|im_start|>system\n' + render_content(message.content, true) | trim + '<|im_end|>\n' }}
        {%- endif %}
    {%- elif message.role == 'user' %}
        {{- '<|im_start|>user\n' + render_content(message.content, true) | trim + '<|im_end|>\n' }}
    {%- elif message.role == 'assistant' %}
        {%- set content = render_content(message.content, true) | trim %}
        {%- set reasoning = '' %}
        {%- if message.reasoning_content is string %}
            {%- set reasoning = message.reasoning_content %}
        {%- elif '</think>' in content %}
            {%- set reasoning = content.split('</think>')[0].split('<think>')[-1] %}
            {%- set content = content.split('</think>')[-1] %}
        {%- endif %}
        {%- set reasoning = reasoning | trim %}
        {%- set content = content | trim %}
        {%- if loop.index0 > ns.last_query_index %}
            {{- '<|im_start|>assistant\n<think>\n' + reasoning + '\n</think>\n\n' + content }}
        {%- else %}
            {{- '<|im_start|>assistant\n' + content }}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for call in message.tool_calls %}
                {%- if call.function is defined %}
                    {%- set call = call.function %}
                {%- endif %}
                {%- if not loop.first %}
                    {{- '\n' }}
                {%- elif content %}
                    {{- '\n\n' }}
                {%- endif %}
                {{- '<tool_call>\n<function=' + call.name + '>\n' }}
                {%- if call.arguments is mapping %}
                    {%- for name, value in call.arguments.items() %}
                        {{- '<parameter=' + name + '>\n' }}
                        {%- if value is string %}
                            {{- value }}
                        {%- else %}
                            {{- value | tojson }}
                        {%- endif %}
                        {{- '\n</parameter>\n' }}
                    {%- endfor %}
                {%- endif %}
                {{- '</function>\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == 'tool' %}
        {%- if loop.first or messages[loop.index0 - 1].role != 'tool' %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' + render_content(message.content, true) | trim + '\n</tool_response>' }}
        {%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\n\n</think>\n\n' }}
    {%- else %}
        {{- '<think>\n' }}
    {%- endif %}
{%- endif %}
"""

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

_built: dict[tuple[str, str, int], Path] = {}
VOCAB_PAD = 64  # the real embeddings are also padded past the tokenizer (Qwen3.5: 248320 rows for ~248077 tokens)


def build_tiny_model(name: str, directory: Path, *, seed: int = 0) -> Path:
    """Write a tiny random `name` model (a key of SPECS) into `directory` (once per process) and return it."""
    spec = _spec(name)
    key = (name, str(Path(directory).resolve()), seed)
    if key in _built and (_built[key] / "config.json").is_file():
        return _built[key]
    import torch
    import transformers

    directory = Path(directory)
    ids = write_model_files(name, directory)
    text, vision = tiny_shapes(name, ids)
    config = model_config(name, ids, text=text, vision=vision)
    with torch.random.fork_rng():  # leave the caller's random state alone
        torch.manual_seed(seed)
        model = getattr(transformers, spec.architecture)(config).eval()
    model.save_pretrained(directory)
    _write_generation_config(spec, ids, directory)  # save_pretrained wrote the model's default one over it
    _built[key] = directory
    return directory


def write_model_files(name: str, directory: Path) -> dict[str, int]:
    """Everything of a `name` model directory but config.json and the weights (tokenizer, generation and
    processor configs, chat template); returns the special tokens' ids, which the model config must use."""
    spec = _spec(name)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = _build_tokenizer(spec)
    tokenizer.save_pretrained(directory)
    ids = {token: int(tokenizer.convert_tokens_to_ids(token)) for token, _ in spec.special}
    _write_generation_config(spec, ids, directory)
    _write_processor_files(spec, directory)
    return ids


def model_config(name: str, ids: dict[str, int], *, text: dict[str, Any], vision: dict[str, Any]) -> Any:
    """The transformers config of a `name` model with these text/vision shapes and the tokenizer's token ids."""
    import transformers

    spec = _spec(name)
    text = {
        **text,
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    token_ids = {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }
    config_class = getattr(transformers, spec.architecture.replace("ForConditionalGeneration", "Config"))
    tie = bool(text.get("tie_word_embeddings", False))
    return config_class(text_config=text, vision_config=vision, tie_word_embeddings=tie, **token_ids)


def tiny_shapes(name: str, ids: dict[str, int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The toy text and vision shapes of a tiny `name` model, its vocabulary padded past the tokenizer's."""
    vocab_size = -(-(max(ids.values()) + 1) // VOCAB_PAD) * VOCAB_PAD
    return _tiny_text(name, vocab_size), _tiny_vision(name)


def _spec(name: str) -> _Spec:
    if name not in SPECS:
        raise ValueError(f"no tiny model {name!r} (have: {', '.join(SPECS)})")
    return SPECS[name]


def _tiny_text(name: str, vocab_size: int) -> dict[str, Any]:
    text: dict[str, Any] = {
        "vocab_size": vocab_size,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 32768,
    }
    if name == "qwen2.5-vl":  # head_dim 16: mrope sections sum to 8 (real: [16, 24, 24] for head_dim 128)
        text.update(rope_theta=1000000.0, rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]})
    elif name == "qwen3-vl":  # interleaved mrope as in Qwen3-VL (real: [24, 20, 20])
        text.update(
            head_dim=16,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 5000000.0,
                "mrope_section": [4, 2, 2],
                "mrope_interleaved": True,
            },
        )
    else:
        # Qwen3.5: Gated DeltaNet (linear attention) layers with full attention between them (real: 3 linear then
        # 1 full, 32 layers), a gated attention output, rope on a quarter of head_dim (real: 256 * 0.25 = 64, mrope
        # [11, 11, 10]; here 32 * 0.25 = 8, mrope [2, 1, 1])
        text.update(
            head_dim=32,
            layer_types=["linear_attention", "full_attention"],
            full_attention_interval=2,
            attn_output_gate=True,
            linear_conv_kernel_dim=4,
            linear_key_head_dim=16,
            linear_value_head_dim=16,
            linear_num_key_heads=2,
            linear_num_value_heads=4,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000000.0,
                "mrope_section": [2, 1, 1],
                "mrope_interleaved": True,
                "partial_rotary_factor": 0.25,
            },
        )
        if name == "qwen3.5-moe":  # routed experts and a shared one instead of the dense MLP (real: 256, top 8)
            del text["intermediate_size"]
            text.update(
                num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=32
            )
    return text


def _tiny_vision(name: str) -> dict[str, Any]:
    vision: dict[str, Any] = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "out_hidden_size": 64,
        "patch_size": SPECS[name].patch_size,
        "spatial_merge_size": MERGE_SIZE,
        "temporal_patch_size": TEMPORAL_PATCH_SIZE,
    }
    if name == "qwen2.5-vl":
        vision.update(window_size=112, fullatt_block_indexes=[1], tokens_per_second=2, hidden_act="silu")
    elif name == "qwen3-vl":
        vision.update(num_position_embeddings=2304, deepstack_visual_indexes=[1], hidden_act="gelu_pytorch_tanh")
    else:  # Qwen3.5's vision tower has no deepstack (its published config says so with an empty list)
        vision.update(num_position_embeddings=2304, deepstack_visual_indexes=[], hidden_act="gelu_pytorch_tanh")
    return vision


def _build_tokenizer(spec: _Spec) -> Any:
    from tokenizers import AddedToken, Regex, Tokenizer, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers import Qwen2Tokenizer

    qwen35 = spec.model_type.startswith("qwen3_5")
    raw = Tokenizer(BPE())
    raw.normalizer = normalizers.NFC()
    raw.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(
                Regex(PRETOKENIZE_REGEX_35 if qwen35 else PRETOKENIZE_REGEX), behavior="isolated", invert=False
            ),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=1000, min_frequency=1, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    raw.train_from_iterator(list(CORPUS) * 4, trainer)
    model = json.loads(raw.to_str())["model"]
    vocab: dict[str, int] = dict(model["vocab"])
    for token, _special in spec.special:  # fixed ids right after the BPE vocabulary, as in the real one
        vocab[token] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    if qwen35:  # the class transformers maps qwen3_5 / qwen3_5_moe to (its own pre-tokenizer split)
        from transformers.models.qwen3_5.tokenization_qwen3_5 import Qwen3_5Tokenizer

        tokenizer_class: Any = Qwen3_5Tokenizer
    else:
        tokenizer_class = Qwen2Tokenizer
    tokenizer = tokenizer_class(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        errors="replace",
        model_max_length=262144 if qwen35 else 131072,
        extra_special_tokens=list(ADDITIONAL_SPECIAL),
    )
    tokenizer.add_tokens([AddedToken(token, special=special, normalized=False) for token, special in spec.special])
    for token, _special in spec.special:
        got = tokenizer.convert_tokens_to_ids(token)
        if got != vocab[token] or tokenizer.encode(token, add_special_tokens=False) != [got]:
            raise RuntimeError(f"tiny tokenizer: {token} is not the single token {vocab[token]} (got {got})")
    return tokenizer


def _write_generation_config(spec: _Spec, ids: dict[str, int], directory: Path) -> None:
    eos = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    if spec.family == "qwen2.5-vl":
        sampling: dict[str, Any] = {"repetition_penalty": 1.05, "temperature": 0.1, "top_k": 1, "top_p": 0.001}
    elif spec.family == "qwen3.5":  # a thinking model's sampling (greedy decoding in deskpilot ignores it)
        sampling = {"temperature": 0.6, "top_k": 20, "top_p": 0.95}
    else:
        sampling = {"temperature": 0.7, "top_k": 20, "top_p": 0.8, "repetition_penalty": 1.0}
    config = {
        "bos_token_id": ids["<|endoftext|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "do_sample": True,
        "eos_token_id": eos,
        **sampling,
    }
    (directory / "generation_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _write_processor_files(spec: _Spec, directory: Path) -> None:
    """Processor configs in the published repositories' format (what a real download contains)."""
    if spec.family == "qwen2.5-vl":
        image = {
            "min_pixels": 3136,
            "max_pixels": 12845056,
            "patch_size": 14,
            "temporal_patch_size": 2,
            "merge_size": 2,
            "image_mean": CLIP_MEAN,
            "image_std": CLIP_STD,
            "image_processor_type": "Qwen2VLImageProcessor",
            "processor_class": spec.processor_class,
        }
        template = json.dumps({"chat_template": QWEN25_TEMPLATE}, indent=2)
        _write_json(directory / "preprocessor_config.json", image)
    else:
        half = [0.5, 0.5, 0.5]
        common = {
            "patch_size": 16,
            "temporal_patch_size": 2,
            "merge_size": 2,
            "image_mean": half,
            "image_std": half,
            "processor_class": spec.processor_class,
        }
        _write_json(
            directory / "preprocessor_config.json",
            {
                "size": {"longest_edge": 16777216, "shortest_edge": 65536},
                **common,
                "image_processor_type": "Qwen2VLImageProcessorFast",
            },
        )
        _write_json(
            directory / "video_preprocessor_config.json",
            {
                "size": {"longest_edge": 25165824, "shortest_edge": 4096},
                **common,
                "video_processor_type": "Qwen3VLVideoProcessor",
            },
        )
        template = QWEN35_TEMPLATE if spec.family == "qwen3.5" else QWEN3_TEMPLATE
    for name in ("chat_template.json", "chat_template.jinja", "processor_config.json"):
        (directory / name).unlink(missing_ok=True)  # leave exactly one template, where the real repo has it
    (directory / spec.chat_template_file).write_text(template, encoding="utf-8")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
