"""PNG (compress_level=1) vs JPEG (quality 90) for sending a screenshot to an OpenAI-compatible server.

Encodes a desktop-like 1932x1092 screenshot (1920x1080 prepared for Qwen2.5-VL; tests/helpers/desktop_image)
the way agent.imaging does, and prints the median encode time, the bytes, and the base64 data-URL length
(what goes over the wire). Two wallpapers: a smooth gradient, and one with photo-like grain.

    .venv/bin/python bench/image_encode.py [--repeat 15] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.imaging import ImageFormat, data_url, encode_image  # noqa: E402
from tests.helpers.desktop_image import desktop_image  # noqa: E402


def measure(repeat: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    formats: tuple[ImageFormat, ...] = ("png", "jpeg")
    for label, grain in (("smooth wallpaper", 0.0), ("grainy wallpaper", 1.0)):
        image = desktop_image(1932, 1092, grain=grain)
        for fmt in formats:
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                _, data = encode_image(image, fmt)
                times.append(time.perf_counter() - start)
            start = time.perf_counter()
            url = data_url(image, fmt)
            url_s = time.perf_counter() - start
            rows.append(
                {
                    "image": label,
                    "format": fmt,
                    "encode_ms": round(statistics.median(times) * 1000, 1),
                    "data_url_ms": round(url_s * 1000, 1),
                    "bytes": len(data),
                    "data_url_chars": len(url),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = measure(args.repeat)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        print(
            f"{row['image']:<17} {row['format']:<5} encode {row['encode_ms']:>6} ms  "
            f"{int(row['bytes']) / 1024:>7.0f} KiB  data URL {int(row['data_url_chars']) / 1024:>7.0f} KiB "
            f"({row['data_url_ms']} ms)"
        )


if __name__ == "__main__":
    main()
