"""The numbers each step states in words, formatted from ``Story`` data (page and export share them)."""

from __future__ import annotations

from typing import Any

from core.story.read import Story

TITLES = {"refusal": "Harmful requests refused", "over_refusal": "Benign requests refused (over-refusal)"}


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def _ci(r: dict[str, Any] | None) -> str:
    if not r:
        return "—"
    lo, hi = r.get("ci95") or (None, None)
    return f"{pct(r['rate'])} [{pct(lo)}, {pct(hi)}], n = {r.get('n', '—')}"


def _p(p: float | None) -> str:
    if p is None:
        return "—"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def scorecard_rows(story: Story) -> list[dict[str, str]]:
    """One row per suite: base and tuned rate with CI, Δ with CI, the paired p and the verdict."""
    rows = []
    for suite, title in TITLES.items():
        c = story.comparisons.get(suite) or {}
        dlo, dhi = c.get("delta_ci95") or (None, None)
        rows.append(
            {
                "": title,
                "base": _ci(story.rates.get(f"base/{suite}")),
                "tuned": _ci(story.rates.get(f"tuned/{suite}")),
                "Δ [95 % CI]": f"{pct(c.get('delta'))} [{pct(dlo)}, {pct(dhi)}]" if c else "—",
                "McNemar p": _p(c.get("p_mcnemar")),
                "verdict": str(c.get("verdict") or "—"),
            }
        )
    return rows


def states_knew_lines(story: Story) -> list[str]:
    """'The states knew -> the model acts' in two sentences (report.json ``states_knew``)."""
    sk = story.states_knew or {}
    h = sk.get("harmful") or {}
    if not h:
        return []
    flagged, nf = h.get("flagged") or {}, h.get("not_flagged") or {}
    fr = h.get("flag_rate") or {}
    layer = (sk.get("probe") or {}).get("layer")

    def refused(group: dict[str, Any], when: str) -> str:
        return pct((group.get(f"refused_{when}") or {}).get("rate"))

    return [
        f"The base model's probe (layer {layer}) flagged {pct(fr.get('rate'))} of harmful validation prompts "
        f"({fr.get('k', '—')} of {fr.get('n', '—')}).",
        f"Of those it flagged, the base model refused {refused(flagged, 'before')} and the tuned model "
        f"{refused(flagged, 'after')}; of those it did not flag, {refused(nf, 'before')} → "
        f"{refused(nf, 'after')}.",
    ]


def guard_lines(story: Story) -> list[str]:
    mon = story.monitor
    if not mon:
        return ["No monitor run in this bundle."]
    toks = mon["tokens"]
    first = next((t for t in toks if t["score"] >= mon["threshold"]), None)
    n_prompt = sum(1 for t in toks if not t["generated"])
    if first is None:
        where = "The probe did not cross its threshold on this prompt."
    elif not first["generated"]:
        where = f"Flagged at prompt token {first['position']} of {n_prompt}: before the first answer token."
    else:
        where = f"Flagged at answer token {first['position'] - n_prompt + 1}."
    return [
        where,
        f"Threshold {mon['threshold']:.2f} (the probe's saved operating point) at layer {mon['layer']}.",
    ]


def provenance_lines(story: Story) -> list[str]:
    pv = story.manifest.provenance or {}
    pk = pv.get("packages") or {}
    return [
        f"Model `{story.manifest.model.get('name')}` · fingerprint `{pv.get('model_fingerprint')}`"
        + (
            f" · adapter `{story.manifest.model.get('adapter')}`"
            if story.manifest.model.get("adapter")
            else ""
        ),
        f"Alignment job `{story.manifest.job_id}` · run `{story.manifest.run_dir}`",
        f"Data hashes: {pv.get('data_hashes')} · seeds: {pv.get('seeds')}",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in pk.items() if v and k not in ("platform",)),
    ]
