"""The story bundle on disk: a manifest that *points at* artefacts the rest of the app reads, plus a few small
derived files the story alone needs.

Layout under ``REASONSCOPE_HOME/story/`` (``REASONSCOPE_STORY`` moves it)::

    manifest.json     which alignment run / job, audit folder, probe, prompts; provenance of every number
    grids.json        token x layer P(unsafe) of the two prompts (saved probe on captured states)
    monitor.json      the live monitor on the harmful prompt: per-token scores, unguarded vs guarded answer
    projection/       the 2-D map of base and tuned trajectories (a ``core.explore`` ProjectionManager cache)
    map.json          which row of the projection is which prompt / subject / layer

Nothing in the manifest is a number the story shows: rates, intervals, curves and examples are read from the
run's ``summary.json``, ``audit/`` files, the job event log and the probe's ``meta.json`` each time.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.config import reasonscope_home
from core.errors import InputError
from core.fsio import atomic_write_bytes

MANIFEST, GRIDS, MONITOR, MAP, PROJECTION = (
    "manifest.json",
    "grids.json",
    "monitor.json",
    "map.json",
    "projection",
)
FORMAT_VERSION = 1


def story_dir() -> Path:
    """Where the bundle lives (``REASONSCOPE_STORY``, default ``REASONSCOPE_HOME/story``)."""
    env = os.environ.get("REASONSCOPE_STORY")
    return Path(env).expanduser() if env else reasonscope_home() / "story"


@dataclass(kw_only=True)
class StoryManifest:
    """Pointers to the artefacts behind the six steps, and the provenance of what was computed here."""

    model: dict[str, Any]  # name, fingerprint, adapter (tuned side)
    job_id: str | None  # the alignment job whose event log has the training curves
    run_dir: str  # the alignment run folder (summary.json, audit/)
    audit_dir: str  # its audit folder (records.jsonl, summary.jsonl, report.json, representation_diff.json)
    jobs_db: str | None  # the job store holding ``job_id`` (None: the default one)
    probe: dict[str, Any]  # name, path, layer (the one the monitor and grids use)
    pair: dict[str, str]  # item ids: harmful, benign (from the audit records)
    examples: list[str]  # item ids of the before/after examples
    map_key: str | None  # projection key in ``projection/``
    provenance: dict[str, Any]  # model fingerprint, data hashes, seeds, package versions, timings
    created_at: float
    format_version: int = FORMAT_VERSION
    notes: list[str] = field(default_factory=list)  # what the build could not do (e.g. no adapter)


def write_json(path: Path, data: Any) -> Path:
    return atomic_write_bytes(path, json.dumps(data, indent=1, default=str).encode(), what="write the story")


def save_manifest(m: StoryManifest, root: Path | None = None) -> Path:
    root = root or story_dir()
    root.mkdir(parents=True, exist_ok=True)
    return write_json(root / MANIFEST, asdict(m))


def load_manifest(root: Path | None = None) -> StoryManifest:
    root = root or story_dir()
    path = root / MANIFEST
    if not path.is_file():
        raise InputError(
            f"No story bundle at {root}. Build one with `reasonscope story build --run JOB_ID` (reuses a "
            "finished alignment run) or from the Story page."
        )
    try:
        data = json.loads(path.read_text())
        known = set(StoryManifest.__dataclass_fields__)
        return StoryManifest(**{k: v for k, v in data.items() if k in known})
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"{path} is not a story manifest ({exc}); rebuild with `reasonscope story build`."
        ) from exc


def read_json(path: Path, default: Any = None) -> Any:
    """A derived or referenced JSON file; ``default`` when it is missing (a step then says so)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default
    except ValueError as exc:
        raise InputError(f"{path} is not valid JSON ({exc}); rebuild the story.") from exc


def source_files(m: StoryManifest, root: Path | None = None) -> list[Path]:
    """Every file the story reads: its cache key is their modification times (so editing any of them, or
    the job's event log, shows up on the next page run)."""
    root = root or story_dir()
    run, audit = Path(m.run_dir), Path(m.audit_dir)
    files = [root / n for n in (MANIFEST, GRIDS, MONITOR, MAP)]
    files += [run / "summary.json", audit / "records.jsonl", audit / "summary.jsonl", audit / "report.json"]
    files += [audit / "representation_diff.json", Path(m.probe.get("path", "")) / "meta.json"]
    if m.jobs_db:
        files += [Path(m.jobs_db), Path(m.jobs_db + "-wal")]
    if m.map_key:
        files.append(root / PROJECTION / f"{m.map_key}.json")
    return files


def mtimes(root: Path | None = None) -> tuple[tuple[str, float], ...]:
    """``(path, mtime)`` of every source file (0 when missing); cheap enough to run on every page run."""
    root = root or story_dir()
    try:
        m = load_manifest(root)
    except InputError:
        return ((str(root / MANIFEST), 0.0),)
    out = []
    for p in source_files(m, root):
        try:
            out.append((str(p), p.stat().st_mtime))
        except OSError:
            out.append((str(p), 0.0))
    return tuple(out)
