"""Which data set a path holds, and reading it (the readers/ modules), the built-in set included.

A folder is recognised by what it holds, in this order: a session (header.json) or folders of sessions; UI-Vision
(`annotations/element_grounding/element_grounding_*.json`); ScreenSpot-Pro (`annotations/*.json`); ScreenSpot
(`screenspot_*.json`); OSWorld-G (`OSWorld-G.json`, also under `benchmark/`). A JSON file by its name and its
samples' fields: `screenspot_*.json` is ScreenSpot (x, y, w, h); `prompt_to_evaluate` is UI-Vision; `box_type`
is OSWorld-G; `img_filename` with `img_size` is ScreenSpot-Pro (x1, y1, x2, y2). Anything else is an error
that asks for `--format`: two of these formats differ only in their box convention, so nothing is guessed.
`builtin` is the set shipped with deskpilot (agent/evaluation/builtin, ScreenSpot-Pro format).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from agent.evaluation.errors import DatasetError
from agent.evaluation.readers import osworld_g, screenspot, screenspot_pro, sessions, uivision
from agent.evaluation.readers.common import Sample, read_json, sample_list

BUILTIN = "builtin"
BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
JSON_READERS: dict[str, ModuleType] = {m.FORMAT: m for m in (screenspot, screenspot_pro, uivision, osworld_g)}
FORMATS = (*JSON_READERS, sessions.FORMAT)
_SCREENSPOT_NAME = re.compile(r"screenspot_.*\.json$", re.I)


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str  # as given: the path, or "builtin"
    format: str
    root: Path  # image and source names are relative to this folder
    samples: tuple[Sample, ...]
    notes: tuple[str, ...] = ()  # what was left out, and why (session folders)


def load_dataset(path: str | Path, *, format: str | None = None, radius: float = sessions.DEFAULT_RADIUS_PX) -> Dataset:
    """The samples at `path` ("builtin", a folder or a JSON file); DatasetError for anything unusable."""
    if format is not None and format not in FORMATS:
        raise DatasetError(f"unknown format {format!r} (known: {', '.join(FORMATS)})")
    name = str(path)
    if name == BUILTIN:
        where = BUILTIN_DIR
        if not (where / "annotations").is_dir():
            raise DatasetError(f"the built-in set is missing from {where} (reinstall deskpilot)")
    else:
        where = Path(path).expanduser()
    if not where.exists():
        raise DatasetError(f"{where}: no such file or folder")
    if where.is_dir():
        found, files = _in_folder(where, format)
        root = where
    else:
        root = where.parent
        found, files = _of_file(where, format), [where]
    if found == sessions.FORMAT:
        if where.is_file():
            raise DatasetError(f"{where}: a session is a folder, not a file")
        read = sessions.read(where, root, radius=radius)
        samples, notes = read.samples, read.notes
    else:
        reader = JSON_READERS[found]
        samples = [s for f in files for s in reader.read(f, root)]
        notes = []
    if not samples:
        why = f" ({'; '.join(notes)})" if notes else ""
        raise DatasetError(f"{where}: no samples in this {found} data set{why}")
    return Dataset(name if name == BUILTIN else str(where), found, root, tuple(samples), tuple(notes))


def _in_folder(folder: Path, forced: str | None) -> tuple[str, list[Path]]:
    if forced == sessions.FORMAT or (forced is None and sessions.session_folders(folder)):
        return sessions.FORMAT, []
    order = (
        [forced]
        if forced is not None
        else [uivision.FORMAT, screenspot_pro.FORMAT, screenspot.FORMAT, osworld_g.FORMAT]
    )
    for candidate in order:
        if candidate == screenspot_pro.FORMAT and forced is None and not (folder / "annotations").is_dir():
            continue  # a bare folder of JSON files is ScreenSpot-Pro only when asked for
        files = JSON_READERS[candidate].files(folder)
        if files:
            return candidate, files
    if forced is not None:
        raise DatasetError(f"{folder}: no {forced} files found")
    raise DatasetError(
        f"{folder}: no data set found (looked for a deskpilot session or sessions folder, "
        "annotations/element_grounding/ (UI-Vision), annotations/*.json (ScreenSpot-Pro), screenspot_*.json "
        "(ScreenSpot), OSWorld-G.json); name a file, or give --format"
    )


def _of_file(path: Path, forced: str | None) -> str:
    if path.suffix.lower() != ".json":
        raise DatasetError(f"{path}: a data set file is JSON (or give a folder)")
    if forced is not None:
        return forced
    if _SCREENSPOT_NAME.match(path.name):
        return screenspot.FORMAT
    items = sample_list(read_json(path), path)
    keys = set(items[0]) if items else set()
    if "prompt_to_evaluate" in keys:
        return uivision.FORMAT
    if "box_type" in keys:
        return osworld_g.FORMAT
    if "img_filename" in keys and "img_size" in keys:
        return screenspot_pro.FORMAT
    shown = ", ".join(sorted(keys)[:8]) or "none"
    raise DatasetError(
        f"{path}: cannot tell its format from its name or its samples' fields ({shown}); "
        f"give --format ({', '.join(JSON_READERS)})"
    )
