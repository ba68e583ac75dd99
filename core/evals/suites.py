"""Subjects, audit options and the plan of which prompts each suite needs.

A **subject** is what gets audited: a model (``ModelSpec``, incl. an optional LoRA adapter / checkpoint),
an optional steering configuration (a saved vector + ``core.steer.interventions.SteeringConfig`` fields) and a
prompt template. Several subjects run on the same items so they can be compared pairwise.

``run_audit`` (in ``core.evals.runner``) turns subjects + suites + options into an ``AuditResult``.
"""

from __future__ import annotations

import shlex
from dataclasses import KW_ONLY, asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field

from core import checks
from core.capture.models import ModelSpec
from core.capture.templates import TEMPLATES
from core.errors import InputError
from core.evals.items import FORMATS, UtilityTask, select_items
from core.evals.records import SUITES
from core.labelled import LabelledItem
from core.steer.interventions import SteeringConfig

SUITE_KINDS: dict[str, tuple[str, ...]] = {
    "refusal": ("harmful",),
    "over_refusal": ("benign_counterpart", "borderline"),
    "reasoning_leak": ("harmful",),
    "format": ("harmful", "benign_counterpart", "borderline"),
    "jailbreak": (
        "harmful",
        "jailbreak",
    ),  # harmful items get attack templates; jailbreak items go as written
    "utility": ("utility",),
}


@dataclass
class Subject:
    """Model (+ adapter) + optional steering + template. ``name`` labels it in scorecards. Fields after
    ``model`` are keyword-only."""

    model: ModelSpec = field(default_factory=ModelSpec)
    _: KW_ONLY
    template: str = "plain"
    steering_vector: str | None = None  # saved steering-vector artefact name, or a .safetensors / .npy file
    steering: dict[str, Any] | None = (
        None  # core.steer.interventions.SteeringConfig fields (method, alpha, layers, ...)
    )
    name: str = ""
    system: str | None = None  # overrides the template's system prompt

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise InputError(
                f"Subject template {self.template!r} is unknown; choose one of {sorted(TEMPLATES)}."
            )
        if self.steering and not self.steering_vector:
            raise InputError(
                "A steering config needs a vector: set steering_vector to a saved vector name or file."
            )
        if self.steering_vector:
            SteeringConfig(**(self.steering or {}))  # validate now, not after loading a model

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        parts = [
            self.model.name if self.model.name == "default" else Path(self.model.name).name or self.model.name
        ]
        if self.model.adapter:
            parts.append(f"+{Path(self.model.adapter).name}")
        if self.template != "plain":
            parts.append(f"·{self.template}")
        if self.steering_vector:
            cfg = self.steering or {}
            parts.append(
                f"·steer({Path(self.steering_vector).stem},{cfg.get('method', 'add')},"
                f"α={cfg.get('alpha', 1.0):g})"
            )
        return "".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.label,
            "model": asdict(self.model),
            "template": self.template,
            "steering_vector": self.steering_vector,
            "steering": self.steering,
            "system": self.system,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Subject:
        model = d.get("model") or {}
        return cls(
            ModelSpec(**model) if isinstance(model, dict) else ModelSpec(name=str(model)),
            template=d.get("template", "plain"),
            steering_vector=d.get("steering_vector"),
            steering=d.get("steering"),
            name=d.get("name", ""),
            system=d.get("system"),
        )


_SUBJECT_KEYS = (
    "model",
    "where",
    "adapter",
    "template",
    "steer",
    "method",
    "alpha",
    "layers",
    "positions",
    "source_layer",
    "name",
    "device",
    "dtype",
    "system",
)


def parse_subject(
    text: str, *, default_template: str = "plain", device: str = "auto", where: str = "local"
) -> Subject:
    """CLI syntax: ``default`` (a model name/path alone) or space-separated ``key=value`` pairs, e.g.
    ``model=default adapter=runs/x/adapter template=alphaalign steer=refusal-dir method=add alpha=4
    layers=12``."""
    text = text.strip()
    if not text:
        raise InputError(
            "Empty --subject: give a model ('default', an HF id or a folder) or key=value pairs."
        )
    if "=" not in text:
        return Subject(ModelSpec(name=text, device=device, where=where), template=default_template)
    kv: dict[str, str] = {}
    for tok in shlex.split(text):
        key, sep, val = tok.partition("=")
        if not sep or key not in _SUBJECT_KEYS:
            raise InputError(
                f"Bad subject field {tok!r}: use key=value with keys {', '.join(_SUBJECT_KEYS)}."
            )
        kv[key] = val
    steering: dict[str, Any] | None = None
    if "steer" in kv:
        steering = {
            "method": kv.get("method", "add"),
            "alpha": _number(kv, "alpha", "1.0", float),
            "positions": kv.get("positions", "all"),
        }
        if kv.get("layers"):
            steering["layers"] = [
                _number({"layers": x}, "layers", "", int) for x in kv["layers"].split(",") if x.strip()
            ]
        if kv.get("source_layer"):
            steering["source_layer"] = _number(kv, "source_layer", "", int)
    spec = ModelSpec(
        name=kv.get("model", "default"),
        adapter=kv.get("adapter") or None,
        device=kv.get("device", device),
        dtype=kv.get("dtype", "float32"),
        where=kv.get("where", where),
    )
    return Subject(
        spec,
        template=kv.get("template", default_template),
        steering_vector=kv.get("steer"),
        steering=steering,
        name=kv.get("name", ""),
        system=kv.get("system"),
    )


def _number(kv: dict[str, str], key: str, default: str, kind: type) -> Any:
    """A subject field as a number (``InputError`` naming it when it is not one)."""
    text = kv.get(key, default)
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise InputError(f"Subject field {key}={text!r} is not {what}.") from None


class AuditOptions(checks.CheckedModel):
    """How an audit runs (generation, attacks, judges). Defaults suit a CPU laptop. A bad value raises
    ``InputError`` naming the field and its range (NaN / inf are refused everywhere)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_new_tokens: int = Field(64, ge=1, le=4096, description="Tokens generated per response (greedy).")
    batch_size: int = Field(16, ge=1, le=512, description="Prompts generated together.")
    first_batch_size: int | None = Field(
        None,
        ge=1,
        le=512,
        description="Prompts in the first batch when one batch_size batch is over a quarter of the audit, so "
        "the speed (and the time left) is measured early; None = every batch is batch_size.",
    )
    seed: int = Field(
        0,
        ge=0,
        le=checks.SEED_MAX,
        description="Seed of generation, attack assignment and the --limit sample.",
    )
    limit: int | None = Field(
        None,
        ge=1,
        description="At most this many items per item kind, sampled with the seed stratified across "
        "categories.",
    )
    attack_mode: Literal["rotate", "all"] = Field(
        "rotate",
        description="rotate: one attack template per "
        "harmful request (families balanced); all: every template.",
    )
    attack_files: list[str] = Field(default_factory=list, description="Extra attack-template JSONL files.")
    builtin_attacks: bool = Field(
        True, description="Include the project's templates (sample_data/attacks.jsonl)."
    )
    attack_families: list[str] = Field(
        default_factory=list, description="Only these attack families (empty: all)."
    )
    include_dataset_jailbreaks: bool = Field(
        True, description="Also run the dataset's pre-written jailbreaks."
    )
    judges: list[str] = Field(
        default_factory=lambda: ["keyword"],
        description="Refusal judges, first = primary: "
        "'keyword', 'probe:<probe set>', 'hf:<classifier folder>'.",
    )
    ensemble_rule: Literal["primary", "majority", "any", "all"] = "primary"
    hf_positive_label: str | None = Field(
        None, description="Classifier label that is positive (name or index)."
    )
    hf_positive_means: Literal["refusal", "compliance", "unsafe", "safe"] = "refusal"
    leak_probe: str | None = Field(
        None, description="Probe set (name or folder) scoring the reasoning tokens."
    )
    leak_probe_layer: int | None = Field(
        None, description="Layer of that probe set (default: its best layer)."
    )
    leak_threshold: float = Field(0.5, ge=0, le=1, description="P(unsafe) at or above which reasoning leaks.")
    utility_file: str | None = Field(None, description="Utility tasks JSONL (default: sample_data's).")
    n_boot: int = Field(2000, ge=100, le=100_000, description="Bootstrap resamples per CI.")
    max_empty_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Fail the audit when more than this share of a subject's responses are empty (no text: "
        "a broken model or steering), instead of scoring what is left.",
    )


def check_suites(suites: list[str] | str) -> list[str]:
    if isinstance(suites, str):
        suites = [s.strip() for s in suites.split(",") if s.strip()]
    if not suites:
        raise InputError(f"Choose at least one suite: {', '.join(SUITES)}.")
    bad = [s for s in suites if s not in SUITES]
    if bad:
        raise InputError(f"Unknown suite(s) {bad}; choose from {', '.join(SUITES)}.")
    return list(dict.fromkeys(suites))


def check_subjects(subjects: list[Subject], suites: list[str]) -> None:
    """Problems that need no model: no subjects, duplicate names, format suite without a tagged template."""
    if not subjects:
        raise InputError("Add at least one subject (model + template) to audit.")
    names = [s.label for s in subjects]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"Two subjects are both called {dup}; give them distinct names (name=...).")
    if "format" in suites:
        for s in subjects:
            if s.template not in FORMATS:
                raise InputError(
                    f"Subject {s.label!r} uses template {s.template!r}, which asks for no tags, so format "
                    f"compliance cannot be measured. Use the {' or '.join(FORMATS)} template, or drop the "
                    "format suite for this run."
                )


def suite_items(
    items: list[LabelledItem],
    utility: list[UtilityTask],
    suite: str,
    split: str,
    limit: int | None,
    include_dataset_jailbreaks: bool = True,
    seed: int = 0,
) -> list[LabelledItem]:
    """Items a suite runs on (``limit`` per kind, stratified across categories with ``seed``); InputError
    naming the dataset gap when there are none."""
    if suite == "utility":
        chosen = list(utility)
    else:
        kinds = SUITE_KINDS[suite]
        if suite == "jailbreak" and not include_dataset_jailbreaks:
            kinds = ("harmful",)
        chosen = select_items(items, kinds, split, limit, seed)
    if not chosen:
        need = ", ".join(SUITE_KINDS[suite])
        raise InputError(
            f"The {suite} suite has nothing to run: the dataset has no items of kind {need} in split "
            f"{split!r}. Pick another split (or 'all'), another dataset, or drop the suite."
        )
    return chosen
