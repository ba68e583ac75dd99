"""Jailbreak attack templates: data files, applied to harmful requests.

Templates live in JSONL (``sample_data/attacks.jsonl`` ships with the project; users add their own files):
``{"id", "family", "template", "description"}`` where ``template`` contains placeholders filled per request:

* ``{prompt}``         the harmful request as written;
* ``{prompt_base64}``  its UTF-8 base64 encoding;
* ``{prompt_leet}``    its leetspeak spelling (a->4 e->3 i->1 o->0 s->5 t->7).

The encodings are computed with ``core.samples.files.to_base64`` / ``to_leetspeak`` -- the same functions that
wrote the encoded jailbreak items of ``prompts.jsonl``. A template must contain at least one known placeholder
and no unknown ones; braces are otherwise literal (filling uses ``str.replace``, never ``str.format``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError
from core.samples.files import load_jsonl, sample_data_dir, to_base64, to_leetspeak

PLACEHOLDERS: dict[str, Callable[[str], str]] = {
    "prompt": lambda p: p,
    "prompt_base64": to_base64,
    "prompt_leet": to_leetspeak,
}
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class AttackTemplate:
    id: str
    family: str
    template: str
    description: str = ""
    source: str = ""  # file it came from

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_FIELD.findall(self.template)))

    def apply(self, request: str) -> str:
        """The attacked prompt for one harmful ``request``."""
        if not request or not request.strip():
            raise InputError(f"Attack {self.id!r}: the request to wrap is empty.")
        out = self.template
        for name in self.placeholders:
            out = out.replace("{" + name + "}", PLACEHOLDERS[name](request))
        return out


def validate_template(tid: str, template: str, where: str = "") -> None:
    """InputError naming the template and the fix when a placeholder is missing or unknown."""
    where = f" ({where})" if where else ""
    names = _FIELD.findall(template or "")
    unknown = sorted(set(names) - set(PLACEHOLDERS))
    if unknown:
        raise InputError(
            f"Attack template {tid!r}{where} uses unknown placeholder(s) "
            f"{', '.join('{' + u + '}' for u in unknown)}; use one of "
            f"{', '.join('{' + k + '}' for k in PLACEHOLDERS)}."
        )
    if not names:
        raise InputError(
            f"Attack template {tid!r}{where} has no placeholder, so the harmful request would never "
            "be inserted: add {prompt} (or {prompt_base64} / {prompt_leet}) where it belongs."
        )


def parse_templates(rows: Iterable[dict], source: str = "") -> list[AttackTemplate]:
    out = []
    for n, row in enumerate(rows, start=1):
        tid = str(row.get("id") or f"{Path(source).stem or 'attack'}-{n}")
        template = row.get("template")
        if not isinstance(template, str) or not template.strip():
            raise InputError(f"Attack {tid!r} ({source}, item {n}) has no 'template' text.")
        validate_template(tid, template, f"{source}, item {n}" if source else f"item {n}")
        out.append(
            AttackTemplate(
                tid, str(row.get("family") or "custom"), template, str(row.get("description") or ""), source
            )
        )
    return out


def load_templates(
    paths: Sequence[str | Path] | None = None, *, include_builtin: bool = True
) -> list[AttackTemplate]:
    """Built-in templates plus those of ``paths`` (JSONL); later files may not reuse an id."""
    files = ([sample_data_dir() / "attacks.jsonl"] if include_builtin else []) + [
        Path(p) for p in paths or ()
    ]
    templates: list[AttackTemplate] = []
    seen: dict[str, str] = {}
    for f in files:
        for t in parse_templates(load_jsonl(f), str(f)):
            if t.id in seen:
                raise InputError(
                    f"Attack id {t.id!r} appears in both {seen[t.id]} and {f}; give it a new id."
                )
            seen[t.id] = str(f)
            templates.append(t)
    if not templates:
        raise InputError("No attack templates: add a JSONL file with {id, family, template} lines.")
    return templates


def select_templates(
    templates: Sequence[AttackTemplate],
    families: Iterable[str] | None = None,
    ids: Iterable[str] | None = None,
) -> list[AttackTemplate]:
    fams, wanted = set(families or ()), set(ids or ())
    out = [t for t in templates if (not fams or t.family in fams) and (not wanted or t.id in wanted)]
    missing = wanted - {t.id for t in templates}
    if missing or (fams and not out):
        have = sorted({t.family for t in templates})
        raise InputError(
            f"Unknown attack ids {sorted(missing)} or families {sorted(fams)}; families: {have}."
        )
    return out


@dataclass(frozen=True)
class AttackedPrompt:
    item_id: str
    attack_id: str
    family: str
    prompt: str  # what the model receives


def assign_attacks(
    item_ids: Sequence[str],
    requests: Sequence[str],
    templates: Sequence[AttackTemplate],
    *,
    mode: str = "rotate",
    seed: int = 0,
) -> list[AttackedPrompt]:
    """Wrap harmful requests in attacks. ``mode="rotate"``: one template per request, families balanced
    (a seeded shuffle of the templates, cycled); ``"all"``: every template for every request."""
    if not templates:
        raise InputError("No attack templates selected.")
    if mode not in ("rotate", "all"):
        raise InputError(f"Attack mode must be 'rotate' or 'all', got {mode!r}.")
    out = []
    if mode == "all":
        for iid, req in zip(item_ids, requests, strict=True):
            for t in templates:
                out.append(AttackedPrompt(iid, t.id, t.family, t.apply(req)))
        return out
    order = list(templates)
    random.Random(seed).shuffle(order)
    for i, (iid, req) in enumerate(zip(item_ids, requests, strict=True)):
        t = order[i % len(order)]
        out.append(AttackedPrompt(iid, t.id, t.family, t.apply(req)))
    return out
