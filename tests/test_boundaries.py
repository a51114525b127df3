"""Imports point one way: app -> agent -> sandbox (README.md, Layout).

Two checks: a static one over every import statement in the source, and a live one that imports each
package in a fresh interpreter and looks at sys.modules (nothing heavy or display-bound at import time).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QT = ("PySide6", "shiboken6")
DRIVERS = ("pyautogui", "pynput", "mss", "Xlib")
HEAVY = ("torch", "transformers", "accelerate", "onnxruntime", "rapidocr")

# package -> top-level modules its source may never import (anywhere, even lazily)
FORBIDDEN_ANYWHERE = {
    "sandbox": ("agent", "app", *QT, "torch", "transformers", "accelerate", "onnxruntime", "rapidocr"),
    "agent": ("app", *QT, *DRIVERS),
}
# modules that may import heavy libraries lazily, inside a function (a backend that needs them)
LAZY_HEAVY_OK = ("agent/backends/",)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(top-level module, imported at module level?) for every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name.split(".")[0], id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module.split(".")[0], id(node) in top_level))
    return found


@pytest.mark.parametrize("package", ["sandbox", "agent", "app"])
def test_static_import_direction(package: str) -> None:
    problems = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for module, at_top in _imports(path):
            if module in FORBIDDEN_ANYWHERE.get(package, ()):
                problems.append(f"{rel} imports {module}")
            if package == "agent" and module in HEAVY and (at_top or not rel.startswith(LAZY_HEAVY_OK)):
                problems.append(f"{rel} imports {module} (only backends may, inside a function)")
            if package == "app" and module in (*QT, *DRIVERS, *HEAVY) and at_top and not rel.startswith("app/gui"):
                problems.append(f"{rel} imports {module} at module level (commands without a window must not)")
    assert problems == []


LIVE = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for info in pkgutil.walk_packages(package.__path__, sys.argv[1] + "."):
    if not info.name.startswith("app.gui"):
        importlib.import_module(info.name)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


@pytest.mark.parametrize("package", ["sandbox", "agent", "app"])
def test_importing_a_package_loads_nothing_heavy(package: str) -> None:
    env_free = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT)}  # no DISPLAY: importing must still work
    out = subprocess.run(
        [sys.executable, "-c", LIVE, package], cwd=ROOT, env=env_free, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout))
    assert loaded.isdisjoint({*QT, *DRIVERS, *HEAVY}), loaded & {*QT, *DRIVERS, *HEAVY}
    if package == "sandbox":
        assert loaded.isdisjoint({"agent", "app"})
    if package == "agent":
        assert "app" not in loaded
