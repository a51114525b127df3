"""bench/gpu_step.py on CPU with the tiny models: it prints its columns, and no speed-up changes a token.

The bench runs the real TransformersBackend on models built from configs (here the tiny ones, on a GPU the
published shapes); each speed-up's greedy tokens are compared with the backend's own (a cut reply must be a
prefix of them). Timings are printed, never asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[1]
HEADER = ("model", "budget", "variant", "img tok", "prompt", "prefill ms", "decode ms", "decoded", "total ms")
VARIANTS = ["plain", "backend", "+call end", "+cap 4", "+compile"]


@pytest.mark.slow
def test_tiny_bench_prints_its_columns_and_speed_ups_change_no_token(tmp_path: Path) -> None:
    """Qwen3.5 (hybrid linear/full attention cache) and Qwen2.5-VL, every variant, torch.compile included."""
    command = [
        sys.executable,
        str(ROOT / "bench" / "gpu_step.py"),
        "--tiny",
        "--models",
        "tiny-qwen3.5,tiny-qwen2.5-vl",
        "--budgets",
        "low",
        "--compile",
        "--max-new-tokens",
        "8",
        "--thought-cap",
        "4",
        "--repeat",
        "1",
    ]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    print(out.stdout)  # the timings, for whoever reads the log
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("device cpu, torch ") and "linear-attention kernels:" in lines[0]
    assert all(title in lines[1] for title in (*HEADER, "peak GiB", "same tokens"))
    rows = [line.split() for line in lines[2:]]
    assert [row[0] for row in rows] == ["tiny-qwen3.5"] * 5 + ["tiny-qwen2.5-vl"] * 5, out.stdout
    assert [" ".join(row[2:-8]) for row in rows] == VARIANTS * 2, out.stdout
    for row in rows:
        image_tokens, decoded, same = int(row[-8]), int(row[-4]), row[-1]
        assert image_tokens == 1222  # 1920x1080 at 1280 visual tokens: 1504x832 (factor 32), 1316x728 (28)
        assert decoded == (3 if row[2] == "+cap" else 7), row  # after the first token: 8 in all, or cut at 4
        assert same == "yes", out.stdout


def test_json_rows(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """--json: the setup and one row per variant with its numbers; Qwen3-VL at its default budget."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import gpu_step
    finally:
        sys.path.remove(str(ROOT / "bench"))
    gpu_step.main(["--tiny", "--models", "tiny-qwen3-vl", "--budgets", "default", "--max-new-tokens", "3", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["setup"]["device"] == "cpu" and set(result["setup"]["linear_attention_kernels"]) == {
        "fla",
        "causal_conv1d",
    }
    rows = result["rows"]
    assert [row["variant"] for row in rows] == ["plain", "backend", "+call end", "+cap 32"]
    for row in rows:
        assert row["image_tokens"] == 2040 and row["max_pixels"] == 16777216 and row["same_tokens"] is True
        assert row["decoded"] == 2 and row["prefill_ms"] > 0 and row["total_ms"] >= row["prefill_ms"]
    assert rows[0]["prompt_tokens"] == rows[1]["prompt_tokens"]  # plain was given the backend's very inputs
