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


def _read_at(grid: dict[str, Any] | None, layer: int) -> float | None:
    """The probe's read of a whole prompt (its pooled state) at ``layer``; None for a bundle without it."""
    if not grid or "read" not in grid or layer not in grid["layers"]:
        return None
    return float(grid["read"][grid["layers"].index(layer)])


def _where(grid: dict[str, Any]) -> str:
    return {
        "post_instruction": "the chat-template tokens after the request, before the answer",
        "mean_all": "the mean of every prompt token, before the answer",
    }.get(str(grid.get("positions")), "the last prompt token, before the answer")


def knows_lines(story: Story) -> list[str]:
    """Step 2 in words: the probe's read of both prompts at its layer, and where it reads."""
    g, layer = story.grids or {}, story.probe_layer
    h, b = _read_at(g.get("harmful"), layer), _read_at(g.get("benign"), layer)
    if h is None or b is None:
        return []
    thr = (story.monitor or {}).get("threshold")
    cut = f" (threshold {thr:.2f})" if thr is not None else ""
    lines = [
        f"At layer {layer} the probe reads the harmful prompt as P(unsafe) = {h:.2f} and the benign "
        f"counterpart as {b:.2f}{cut}.",
        f"It reads {_where(g['harmful'])} (marked on the grids); the tokens of the request itself are shown "
        "for context, the probe was not trained on them.",
    ]
    choice = g.get("choice") or {}
    heldout = dict(zip(story.auroc.get("layers") or [], story.auroc.get("heldout") or [], strict=False))
    overall = (
        f" Over the whole validation split its AUROC at this layer is {heldout[layer]:.2f}."
        if (heldout.get(layer) is not None)
        else ""
    )
    if choice.get("read_right"):
        lines.append(
            f"This pair is the first of the audit's {choice['of']} answered pairs (#{choice['rank']}) that "
            f"the probe reads right: an example, not the rule.{overall}"
        )
    elif choice:
        lines.append(
            f"The probe reads none of the first {choice.get('tried', '?')} answered pairs right at its "
            f"threshold; this is the first.{overall}"
        )
    return lines


def guard_lines(story: Story) -> list[str]:
    """Step 3 in words: flagged before the answer (the probe's read of the prompt), then where the live
    monitor crosses the threshold during the answer -- the token at which the stop guard ends it."""
    mon = story.monitor
    if not mon:
        return ["No monitor run in this bundle."]
    thr, layer = mon["threshold"], mon["layer"]
    n_prompt = sum(1 for t in mon["tokens"] if not t["generated"])
    lines = []
    read = _read_at((story.grids or {}).get("harmful"), layer)
    if read is not None:
        verdict = "flagged" if read >= thr else "not flagged"
        lines.append(
            f"Before the first answer token, the probe's read of the prompt is P(unsafe) = {read:.2f}: "
            f"{verdict} (threshold {thr:.2f})."
        )
    crossing = mon.get("crossing")
    if crossing is None:  # bundles before the monitor's crossing was stored: the first generated token over
        crossing = next((t["position"] for t in mon["tokens"] if t["generated"] and t["score"] >= thr), None)
    if crossing is None:
        lines.append("While it answers, no answer token crosses the threshold: the stop guard never acts.")
    else:
        lines.append(
            "While it answers, the live monitor crosses the threshold at answer token "
            f"{crossing - n_prompt + 1}; the stop guard ends the answer there."
        )
    lines.append(f"Threshold {thr:.2f} is the probe's saved operating point at layer {layer}.")
    return lines


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
