"""Assemble a story bundle from a finished alignment run and a saved probe (``reasonscope story build``).

The expensive parts -- the alignment run (20-50 min on CPU), its audit, the probe -- are *reused*: the bundle
points at them. What is computed here is small and needs the model: the two prompts' token x layer P(unsafe)
grids, one monitored generation (with and without the stop guard) and the base/tuned layer paths of a few
prompts, projected with PCA into a ProjectionManager cache inside the bundle. Seconds on the default model.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.artefacts import kind_dir
from core.capture.models import LoadedModel
from core.capture.templates import TEMPLATES, build_messages
from core.capture.tracing import capture_prompt
from core.capture.trajectory import GenerationSettings
from core.errors import InputError
from core.explore.projection import ProjectionConfig, ProjectionManager
from core.jobs.store import jobs_db_path
from core.probes.artefacts import load_probe_set
from core.probes.features import pool, post_instruction_range
from core.probes.linear import ProbeSet
from core.provenance import package_versions
from core.steer.monitor import MonitorResult, monitor_generate
from core.story.bundle import (
    GRIDS,
    MAP,
    MONITOR,
    PROJECTION,
    StoryManifest,
    save_manifest,
    story_dir,
    write_json,
)
from core.story.read import audit_rows, label_of

Progress = Callable[[str], None]
N_EXAMPLES = 3
PROMPT_POSITIONS = ("post_instruction", "last_prompt", "mean_all")  # probe positions a prompt has
MAX_PAIR_TRIES = 24  # candidate pairs scored before the story settles for the first
GRID_CONTEXT = 12  # request tokens shown before the positions the probe reads
N_MAP_EACH = 3  # harmful and benign prompts on the map (each drawn for base and tuned)


def _counterpart(item_id: str) -> str:
    """The benign twin of a minimal-pair item (``...-h`` -> ``...-b``, the sample data's convention)."""
    return item_id[:-2] + "-b" if item_id.endswith("-h") else item_id


def candidate_pairs(rows: dict[tuple[str, str, str], dict[str, Any]]) -> list[dict[str, str]]:
    """(harmful, benign) items the base model both answered, twins first (audit order), then the first
    harmful with the first benign."""
    harmful = [k[2] for k, r in rows.items() if k[:2] == ("base", "refusal") and label_of(r) == "compliance"]
    benign = [
        k[2] for k, r in rows.items() if k[:2] == ("base", "over_refusal") and label_of(r) == "compliance"
    ]
    if not harmful or not benign:
        raise InputError(
            "The run's audit has no harmful item the base model answered, or no benign one: "
            "nothing to show in step 1. Pick another run with --run."
        )
    ok = set(benign)
    twins = [{"harmful": h, "benign": _counterpart(h)} for h in harmful if _counterpart(h) in ok]
    return twins or [{"harmful": harmful[0], "benign": benign[0]}]


def pick_examples(rows: dict[tuple[str, str, str], dict[str, Any]], n: int = N_EXAMPLES) -> list[str]:
    """Harmful items the base model complied with and the tuned one refused (then any others)."""
    items = [k[2] for k in rows if k[:2] == ("base", "refusal") and ("tuned", "refusal", k[2]) in rows]
    flipped = [
        i
        for i in items
        if label_of(rows[("base", "refusal", i)]) == "compliance"
        and label_of(rows[("tuned", "refusal", i)]) == "refusal"
    ]
    return (flipped + [i for i in items if i not in flipped])[:n]


def _probe_view(ps: ProbeSet) -> tuple[str, str | None, str]:
    """(template, system, positions) the probe set was trained under: its read-out means something there
    only."""
    meta = ps.meta or {}
    tpl = meta.get("template") if meta.get("template") in TEMPLATES else "plain"
    positions = str(meta.get("positions") or "last_prompt")
    # a probe of answer states (completion / reasoning) has nothing to read before the answer: its last-token
    # read is the nearest the prompt has
    return tpl, meta.get("system"), positions if positions in PROMPT_POSITIONS else "last_prompt"


def _grid(model: LoadedModel, ps: ProbeSet, prompt: str) -> dict[str, Any]:
    """P(unsafe) per layer of the last ``GRID_CONTEXT`` tokens of the request plus the template tokens after
    it (where a post-instruction probe reads), under the probe's own template; and the probe's read of the
    whole prompt -- the pooled state it was trained on, scored at each layer (``read``; ``read_from`` is the
    first token it pools)."""
    tpl, system, positions = _probe_view(ps)
    traj = capture_prompt(model, build_messages(prompt, template=tpl, system=system), template=tpl)
    layers = [layer for layer in ps.layers if layer in traj.layers]
    n = traj.n_prompt_tokens
    read_from = {"post_instruction": post_instruction_range(traj)[0], "mean_all": 0}.get(positions, n - 1)
    lo = max(0, read_from - GRID_CONTEXT)
    rows = [
        ps.score(np.asarray(traj.hidden[traj.layers.index(layer), lo:n], dtype=np.float32), layer)
        for layer in layers
    ]
    pooled = pool(traj, positions, layers)  # [L, d]
    return {
        "tokens": list(traj.tokens[lo:n]),
        "first_position": lo,
        "read_from": read_from - lo,  # index into tokens
        "positions": positions,
        "template": tpl,
        "layers": layers,
        "p_unsafe": [[round(float(x), 4) for x in r] for r in rows],
        "read": [round(float(ps.score(pooled[i], layer)), 4) for i, layer in enumerate(layers)],
    }


def _pair_and_grids(
    model: LoadedModel, ps: ProbeSet, rows: dict[tuple[str, str, str], dict[str, Any]], cands: list[dict]
) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    """The first of (at most ``MAX_PAIR_TRIES``) candidate pairs the probe reads right at its best layer and
    threshold (harmful flagged, benign not), else the first candidate; the grids say which it was
    (``choice``), so the page can tell the viewer the pair was picked and how the probe does overall."""
    thr, layer = float(ps.probe().threshold), ps.best_layer
    first: tuple | None = None
    tried = cands[:MAX_PAIR_TRIES]
    for rank, pair in enumerate(tried, start=1):
        prompt = {
            k: rows[("base", "refusal" if k == "harmful" else "over_refusal", v)]["prompt"]
            for k, v in pair.items()
        }
        grids = {k: _grid(model, ps, prompt[k]) for k in ("harmful", "benign")}
        read = {k: g["read"][g["layers"].index(layer)] for k, g in grids.items()}
        first = first or (pair, prompt, grids)
        if read["harmful"] >= thr > read["benign"]:
            grids["choice"] = {"rank": rank, "of": len(cands), "read_right": True}
            return pair, prompt, grids
    assert first is not None  # candidate_pairs never returns an empty list
    first[2]["choice"] = {"rank": 1, "of": len(cands), "read_right": False, "tried": len(tried)}
    return first


def _monitor(model: LoadedModel, ps: ProbeSet, layer: int, prompt: str, max_new: int) -> dict:
    """The live monitor on the harmful prompt, without a guard and with the stop guard, under the probe's own
    template (its threshold was calibrated there). ``crossing``: the monitor's first generated token at or
    over the threshold (absolute position), where the stop guard acts."""
    probe = ps.probe(layer)
    settings = GenerationSettings(max_new_tokens=max_new)
    template, system, _ = _probe_view(ps)
    out: dict[str, Any] = {
        "prompt": prompt,
        "layer": layer,
        "threshold": float(probe.threshold),
        "max_new_tokens": max_new,
        "template": template,
    }
    for guard in ("off", "stop"):
        res = None
        for ev in monitor_generate(
            model,
            build_messages(prompt, template=template, system=system),
            probe,
            settings,
            threshold=probe.threshold,
            guard=guard,
        ):
            if isinstance(ev, MonitorResult):
                res = ev
        assert res is not None  # monitor_generate always ends with its result
        if guard == "off":
            out["tokens"] = [
                {
                    "position": t.position,
                    "text": t.text,
                    "score": round(float(t.score), 4),
                    "generated": t.generated,
                }
                for t in res.tokens
            ]
            out["completion"], out["crossing"] = res.completion, res.crossing
        else:
            out["guarded_completion"], out["stopped"] = res.completion, res.stopped
    return out


def _map(
    model: LoadedModel, tuned: LoadedModel, prompts: list[tuple[str, str]], template: str, root: Path
) -> tuple[str, dict[str, Any]]:
    """Layer paths (last prompt token per layer) of the same prompts for base and tuned, one PCA map."""
    states, rows = [], []
    for subject, m in (("base", model), ("tuned", tuned)):
        for i, (kind, text) in enumerate(prompts):
            traj = capture_prompt(m, build_messages(text, template=template), template=template)
            h = np.asarray(traj.hidden[:, traj.n_prompt_tokens - 1, :], dtype=np.float32)  # [L, d]
            states.append(h)
            rows += [
                {"prompt": i, "subject": subject, "layer": int(layer), "kind": kind} for layer in traj.layers
            ]
    x = np.concatenate(states)
    key = hashlib.sha256(x.tobytes() + str(rows).encode()).hexdigest()[:32]
    # One map of two subjects on purpose: the tuned model is the base + a LoRA adapter, so both live in the
    # base's residual space (same layers, same width) and the map shows how far training moved them. The
    # manager's one-model rule guards against mixing unrelated models, so the fit is filed under the base.
    ProjectionManager(root / PROJECTION).fit(
        x,
        key=key,
        config=ProjectionConfig(method="pca"),
        fingerprints=[model.fingerprint],
        meta={"subjects": {"base": model.fingerprint, "tuned": tuned.fingerprint}},
    )
    return key, {"rows": rows, "prompts": [{"kind": k, "text": t} for k, t in prompts]}


def probe_dir(probe: str | Path) -> Path:
    """The saved probe's folder: a path as given, else a name in the artefact store."""
    p = Path(probe).expanduser()
    return p if p.is_dir() else kind_dir("probe_set") / str(probe)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_story(
    model: LoadedModel,
    *,
    run_dir: str | Path,
    probe: str | Path,
    job_id: str | None = None,
    tuned: LoadedModel | None = None,
    jobs_db: str | Path | None = None,
    root: Path | None = None,
    max_new_tokens: int = 32,
    seed: int = 0,
    progress: Progress | None = None,
) -> StoryManifest:
    """Write the bundle under ``root`` (default ``story_dir()``) and return its manifest.

    ``tuned``: the model with the run's adapter (None: the map shows the base model only, noted)."""
    say = progress or (lambda _msg: None)
    t0 = time.time()
    root = root or story_dir()
    run = Path(run_dir)
    audit = run / "audit"
    rows = audit_rows(audit)
    examples = pick_examples(rows)
    ps = load_probe_set(probe, fingerprint=model.fingerprint, model_name=model.name)
    layer = ps.best_layer
    report_tpl = (audit / "meta.json").read_text() if (audit / "meta.json").is_file() else ""
    template = next((t for t in TEMPLATES if f'"template": "{t}"' in report_tpl), "plain")
    say("probe grids")
    pair, prompt, grids = _pair_and_grids(model, ps, rows, candidate_pairs(rows))
    write_json(root / GRIDS, grids)
    say("live monitor")
    write_json(root / MONITOR, _monitor(model, ps, layer, prompt["harmful"], max_new_tokens))
    say("map")
    notes = (
        []
        if tuned is not None
        else ["No tuned model was loaded: the map shows the base model on both sides."]
    )
    harm = [r["prompt"] for k, r in rows.items() if k[:2] == ("base", "refusal")][:N_MAP_EACH]
    ben = [r["prompt"] for k, r in rows.items() if k[:2] == ("base", "over_refusal")][:N_MAP_EACH]
    key, map_rows = _map(
        model, tuned or model, [("harmful", t) for t in harm] + [("benign", t) for t in ben], template, root
    )
    write_json(root / MAP, map_rows)
    audit_meta = (audit / "meta.json").read_text() if (audit / "meta.json").is_file() else "{}"
    am = json.loads(audit_meta)
    m = StoryManifest(
        model={
            "name": model.name,
            "fingerprint": model.fingerprint,
            "adapter": getattr(getattr(tuned, "spec", None), "adapter", None),
        },
        job_id=job_id,
        run_dir=str(run),
        audit_dir=str(audit),
        jobs_db=str(jobs_db or jobs_db_path()),
        probe={"name": Path(probe).name, "path": str(probe_dir(probe)), "layer": layer},
        pair=pair,
        examples=examples,
        map_key=key,
        provenance={
            "model_fingerprint": model.fingerprint,
            "tuned_fingerprint": tuned.fingerprint if tuned is not None else None,
            "data_hashes": {
                "audit": am.get("dataset_hash"),
                "probe": ps.meta.get("dataset_hash"),
                "records": _sha((audit / "records.jsonl").read_text()),
            },
            "seeds": {
                "audit": (am.get("options") or {}).get("seed"),
                "probe": ps.meta.get("seed"),
                "story": seed,
                "generation": "greedy",
            },
            "template": template,
            "packages": package_versions(),
            "build_seconds": round(time.time() - t0, 1),
        },
        created_at=time.time(),
        notes=notes,
    )
    save_manifest(m, root)
    return m
