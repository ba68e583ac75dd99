"""Read the six steps' data from the artefacts a bundle points at (no model, no torch: the page and the export
call this).

Every number comes from a file the rest of the app reads too: the alignment run's ``summary.json`` and
``audit/report.json`` (Audit page), the audit's ``records.jsonl`` (Audit page, worst items), the job's event
log (Jobs page, through ``core.jobs.view.metric_frame``), the saved probe set (Probes page, through
``core.probes.artefacts.load_probe_set``), ``representation_diff.json`` (Audit page) and the saved projection
(``core.explore.projection.ProjectionManager``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InputError
from core.explore.projection import ProjectionManager
from core.jobs.store import JobStore
from core.jobs.view import metric_frame
from core.probes.artefacts import load_probe_set
from core.story.bundle import (
    GRIDS,
    MAP,
    MONITOR,
    PROJECTION,
    StoryManifest,
    load_manifest,
    read_json,
    story_dir,
)

# Training curves: panel title -> metric names. Alignment methods log under per-phase prefixes (warm start
# ``warmstart/``, Rational's ``sft/``, then GRPO without a prefix), in that order; a panel joins the phases it
# finds into one timeline (a later phase's steps follow the earlier phase's last step). ``align/…`` (the share
# of GRPO rollouts refused, on training prompts) stands in only when no held-out monitor batch was logged.
# Loss and reward panels show one phase (the first found): the objectives differ.
PHASE_PREFIXES = ("warmstart/", "sft/", "")
CURVES = {
    "Loss": ("loss",),
    "Harmful refusal": ("monitor/refusal_harmful", "align/refusal_harmful"),
    "Over-refusal": ("monitor/over_refusal", "align/refusal_benign"),
    "Reward": ("reward", "rewards/safety/mean"),
}
RATE_PANELS = ("Harmful refusal", "Over-refusal")  # joined across phases, drawn as shares 0..1
SUITES = ("refusal", "over_refusal")  # the scorecard's rows: harmful refused, benign refused


@dataclass(kw_only=True)
class Story:
    """What the six steps show, as plain JSON-able values (the export embeds them as they are)."""

    manifest: StoryManifest
    pair: dict[str, dict[str, Any]]  # harmful / benign: id, prompt, answer, label (base model)
    grids: dict[str, Any] | None  # harmful / benign: tokens, layers, p_unsafe [L][T]
    auroc: dict[str, list[float | None]]  # layers, mean, std, heldout (None: no validation split)
    probe_layer: int
    probe_summary: str
    monitor: dict[str, Any] | None
    curves: dict[str, dict[str, Any]]  # panel -> metric, step, value, phase_end
    rates: dict[str, Any]  # report.json "rates": "<subject>/<suite>" -> rate, ci95, n
    comparisons: dict[str, Any]  # report.json "comparisons": suite -> delta, delta_ci95, p_mcnemar, verdict
    states_knew: dict[str, Any] | None
    examples: list[dict[str, Any]]  # id, prompt, before, after, before_label, after_label
    repdiff: dict[str, Any] | None
    map: dict[str, Any] | None  # rows (prompt, subject, layer, kind) + coords [n][2]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "manifest"}
        out["provenance"] = self.manifest.provenance
        out["model"] = self.manifest.model
        out["job_id"] = self.manifest.job_id
        return out


def audit_rows(audit_dir: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    """``(subject, suite, item_id) -> attempt row`` of an audit's records.jsonl (raw rows: no re-scoring,
    so the page stays fast on thousands of records)."""
    path = audit_dir / "records.jsonl"
    if not path.is_file():
        raise InputError(f"{audit_dir} has no records.jsonl: point the story at a finished alignment run.")
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            if r.get("type", "attempt") == "attempt":
                out[(r["subject"], r["suite"], r["item_id"])] = r
    return out


def label_of(row: dict[str, Any] | None) -> str | None:
    """The verdict that counts: a human's when there is one, else the judges' ensemble."""
    if row is None:
        return None
    return ((row.get("human") or row.get("final")) or {}).get("label")


def _answer(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {"id": None, "prompt": None, "answer": None, "label": None}
    return {
        "id": row["item_id"],
        "prompt": row.get("prompt"),
        "answer": row.get("answer") or row.get("response"),
        "label": label_of(row),
    }


def _curves(m: StoryManifest) -> dict[str, dict[str, Any]]:
    """Panel -> ``{"metric", "step", "value", "phase_end"}`` from the job's event log; ``phase_end`` is the
    last supervised (warm-start / SFT) step when GRPO follows it, else None."""
    if not m.job_id:
        return {}
    store = JobStore(Path(m.jobs_db) if m.jobs_db else None)
    try:
        frame = metric_frame(store.events(m.job_id, kinds=["metric"]))
    finally:
        store.close()
    if frame.empty:
        return {}
    supervised = frame[frame["metric"].str.startswith(PHASE_PREFIXES[:2])]
    sup_end = int(supervised["step"].max()) if len(supervised) else 0
    has_grpo = bool(frame["metric"].isin(CURVES["Reward"]).any())  # only GRPO logs a reward
    out: dict[str, dict[str, Any]] = {}
    for title, names in CURVES.items():
        for name in names:
            parts = []
            for prefix in PHASE_PREFIXES:
                rows = frame[frame["metric"] == prefix + name]
                if len(rows):
                    offset = sup_end if prefix == "" else 0
                    parts.append(
                        (prefix + name, [int(x) + offset for x in rows["step"]], list(rows["value"]))
                    )
                    if title not in RATE_PANELS:  # losses of different objectives do not share an axis
                        break
            if parts:
                out[title] = {
                    "metric": " + ".join(p[0] for p in parts),
                    "step": [x for p in parts for x in p[1]],
                    "value": [float(v) if v is not None else None for p in parts for v in p[2]],
                    "phase_end": sup_end if (sup_end and has_grpo) else None,
                }
                break
    return out


def _map(m: StoryManifest, root: Path) -> dict[str, Any] | None:
    rows = read_json(root / MAP)
    if not rows or not m.map_key:
        return None
    fit = ProjectionManager(root / PROJECTION).get(m.map_key)
    if fit is None:
        return None
    coords = np.asarray(fit.embedding, dtype=float)[:, :2]
    if len(coords) != len(rows["rows"]):
        raise InputError(f"{root / MAP} lists {len(rows['rows'])} rows but the projection has {len(coords)}.")
    return {**rows, "coords": coords.round(4).tolist(), "method": fit.config.method}


def load_story(root: Path | None = None) -> Story:
    """The six steps' data, read fresh from the bundle's artefacts."""
    root = root or story_dir()
    m = load_manifest(root)
    audit = Path(m.audit_dir)
    recs = audit_rows(audit)
    pair = {
        "harmful": _answer(recs.get(("base", "refusal", m.pair["harmful"]))),
        "benign": _answer(recs.get(("base", "over_refusal", m.pair["benign"]))),
    }
    examples = []
    for item in m.examples:
        before, after = recs.get(("base", "refusal", item)), recs.get(("tuned", "refusal", item))
        if before is not None and after is not None:
            examples.append(
                {
                    "id": item,
                    "prompt": before.get("prompt"),
                    "before": _answer(before)["answer"],
                    "after": _answer(after)["answer"],
                    "before_label": label_of(before),
                    "after_label": label_of(after),
                }
            )
    ps = load_probe_set(m.probe["path"])
    curve = ps.curve("auroc")
    report = read_json(audit / "report.json", {}) or {}
    return Story(
        manifest=m,
        pair=pair,
        grids=read_json(root / GRIDS),
        auroc={k: [float(x) if np.isfinite(x) else None for x in v] for k, v in curve.items()},
        probe_layer=int(m.probe.get("layer", ps.best_layer)),
        probe_summary=str(ps.meta.get("name", m.probe.get("name", ""))),
        monitor=read_json(root / MONITOR),
        curves=_curves(m),
        rates=report.get("rates") or {},
        comparisons=report.get("comparisons") or {},
        states_knew=report.get("states_knew"),
        examples=examples,
        repdiff=read_json(audit / "representation_diff.json"),
        map=_map(m, root),
        notes=list(m.notes),
    )
