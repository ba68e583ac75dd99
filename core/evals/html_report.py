"""The self-contained offline HTML report of an audit, and the figures it (and the Audit page) shows.

plotly.js is embedded inline once (``include_plotlyjs=True``) -- no CDN, no network: the file opens on an
air-gapped machine. Every string from a model or a dataset is HTML-escaped.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from core.evals.records import SUITES, SuiteSummary, worst_items
from core.evals.result import AuditResult, category_rows, scorecard
from core.evals.review import disagreement_rows
from core.evals.stats import MIN_N, diff_text
from core.explore.palette import SAFE, SERIES_COLOURS, UNSAFE
from core.fsio import atomic_write_bytes

PALETTE = SERIES_COLOURS  # subjects are series: never the safe / unsafe colours (core.explore.palette)


def _pct(x: float | None) -> float | None:
    return None if x is None else 100.0 * x


def scorecard_figure(result: AuditResult) -> go.Figure:
    """Grouped bars: one group per suite, one bar per subject, 95 % CI error bars."""
    fig = go.Figure()
    subjects = result.subjects
    for i, subj in enumerate(subjects):
        rows = [s for s in result.summaries if s.subject == subj]
        fig.add_bar(
            name=subj,
            x=[SUITES[s.suite].title for s in rows],
            y=[_pct(s.rate.rate) for s in rows],
            marker_color=PALETTE[i % len(PALETTE)],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [_pct(s.rate.high - s.rate.rate) for s in rows],
                "arrayminus": [_pct(s.rate.rate - s.rate.low) for s in rows],
            },
            customdata=[[s.rate.n] for s in rows],
            hovertemplate="%{x}<br>%{y:.1f} %% (n = %{customdata[0]})<extra>"
            + html.escape(subj)
            + "</extra>",
        )
    fig.update_layout(
        barmode="group",
        yaxis={"title": "rate (%)", "range": [0, 105]},
        height=380,
        margin={"l": 50, "r": 20, "t": 40, "b": 80},
        title="Scorecard (95 % Wilson score CI)",
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def category_figure(summaries: list[SuiteSummary], suite: str) -> go.Figure:
    """Per-category (or per attack family) rates of one suite, subjects side by side."""
    fig = go.Figure()
    rows = [s for s in summaries if s.suite == suite]
    for i, s in enumerate(rows):
        cats = list(s.by_category)
        fig.add_bar(
            name=s.subject,
            x=cats,
            y=[_pct(s.by_category[c].rate) for c in cats],
            marker_color=PALETTE[i % len(PALETTE)],
            customdata=[[s.by_category[c].n] for c in cats],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [_pct(s.by_category[c].high - s.by_category[c].rate) for c in cats],
                "arrayminus": [_pct(s.by_category[c].rate - s.by_category[c].low) for c in cats],
            },
            hovertemplate="%{x}: %{y:.1f} %% (n = %{customdata[0]})<extra></extra>",
        )
    what = "attack family" if suite == "jailbreak" else "category"
    fig.update_layout(
        barmode="group",
        title=f"{SUITES[suite].title} by {what}",
        height=340,
        yaxis={"title": "rate (%)", "range": [0, 105]},
        margin={"l": 50, "r": 20, "t": 40, "b": 90},
        legend={"orientation": "h", "y": -0.35},
    )
    return fig


def _table(rows: list[dict[str, Any]], cols: list[tuple[str, str]], cls: str = "") -> str:
    """An HTML table; a row with a true ``too_few`` is greyed out (class ``few``)."""
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t in cols)
    body = []
    for r in rows:
        tr = "<tr class='few'>" if r.get("too_few") else "<tr>"
        body.append(tr + "".join(f"<td>{_cell(r.get(k))}</td>" for k, _ in cols) + "</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _cell(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.3g}"
    s = str(v)
    return html.escape(s[:400] + ("…" if len(s) > 400 else ""))


CSS = (
    "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;"
    "max-width:1180px;\n"
    "color:#1d1d1f;padding:0 16px}h1{margin-bottom:0}h2{margin-top:36px;border-bottom:1px solid #ddd;"
    "padding-bottom:4px}\n"
    "table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}th,td{border:1px solid #ddd;"
    "padding:4px 6px;\n"
    "vertical-align:top;text-align:left}th{background:#f4f4f6}.muted{color:#666;font-size:13px}"
    f".good{{color:{SAFE}}}\n"
    f".bad{{color:{UNSAFE}}}"
    "pre{background:#f6f8fa;padding:10px;overflow:auto;font-size:12px;"
    "max-height:420px}\n"
    "tr.few td{color:#999}"
    ".note{background:#fff8e1;border-left:4px solid #f9a825;padding:6px 10px;margin:6px 0}"
)


def build_html(result: AuditResult, *, title: str = "ReasonScope audit report", n_worst: int = 8) -> str:
    """The whole report as one HTML string (plotly.js inline)."""
    figs = [("scorecard", scorecard_figure(result))]
    figs += [
        (f"cat-{s}", category_figure(result.summaries, s))
        for s in result.meta.get("suites", [])
        if any(x.suite == s for x in result.summaries)
    ]
    divs = {}
    for i, (key, fig) in enumerate(figs):
        divs[key] = pio.to_html(
            fig,
            include_plotlyjs=(i == 0),
            full_html=False,
            div_id=f"fig-{key}",
            config={"displaylogo": False, "responsive": True},
        )
    rows = scorecard(result)
    for r in rows:
        r["direction"] = "higher is better" if r["higher_is_better"] else "lower is better"
        r["delta_pt"] = diff_text(r["delta"], *(r.get("delta_ci") or (None, None)))
        r["empty"] = f"{r['n_empty']} of {r['n_attempts']}" + (
            f" ({100 * r['empty_rate']:.0f} %)" if r["empty_rate"] is not None else ""
        )
    meta = result.meta
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p class='muted'>Generated {time.strftime('%Y-%m-%d %H:%M:%S')} · "
        f"dataset <b>{html.escape(str(meta.get('dataset')))}</b> (split "
        f"{html.escape(str(meta.get('split')))}, hash {html.escape(str(meta.get('dataset_hash')))}) · "
        f"{len(result.records)} attempts · {len(result.subjects)} subject(s) · "
        f"{meta.get('seconds', 0):.0f} s</p>",
    ]
    for w in meta.get("warnings", []):
        parts.append(f"<div class='note'>{html.escape(w)}</div>")
    parts.append(
        "<h2>Scorecard</h2><p class='muted'>Rates with Wilson score 95 % confidence intervals and n; "
        f"rates from fewer than {MIN_N} items are greyed out and marked “too few”. Δ compares each subject "
        "with the first one on the same items: exact McNemar test on the discordant pairs (significant at "
        "p &lt; 0.05) and Newcombe's 95 % interval of the paired difference. Empty "
        "responses (no text: whitespace or special tokens only) are neither refusals nor compliance: they "
        "are counted apart and left out of n in the refusal-based suites.</p>"
    )
    parts.append(
        _table(
            rows,
            [
                ("subject", "Subject"),
                ("title", "Suite"),
                ("direction", "Direction"),
                ("rate_text", "Rate [95 % CI] · n"),
                ("empty", "Empty responses"),
                ("delta_pt", "Δ vs baseline [95 % CI]"),
                ("p_mcnemar", "McNemar p"),
                ("verdict", "Verdict"),
                ("n_disagreements", "Judge disagreements"),
                ("n_human", "Human verdicts"),
            ],
            "score",
        )
    )
    parts.append(divs["scorecard"])
    parts.append("<h2>Breakdown by category</h2>")
    parts += [divs[k] for k, _ in figs if k.startswith("cat-")]
    cats = category_rows(result)
    if cats:
        parts.append(
            _table(
                cats,
                [
                    ("subject", "Subject"),
                    ("title", "Suite"),
                    ("category", "Category / attack family"),
                    ("rate_text", "Rate [95 % CI] · n"),
                ],
                "cats",
            )
        )
    parts.append("<h2>Worst items</h2><p class='muted'>Failures of each suite, most confident first.</p>")
    for s in meta.get("suites", []):
        worst = worst_items(result.records, s, n_worst)
        if not worst:
            continue
        parts.append(f"<h3>{html.escape(SUITES[s].title)}</h3>")
        parts.append(
            _table(
                [
                    {
                        "subject": w.subject,
                        "item": w.item_id,
                        "attack": w.attack,
                        "prompt": w.prompt,
                        "response": w.response,
                        "why": w.effective.rationale,
                    }
                    for w in worst
                ],
                [
                    ("subject", "Subject"),
                    ("item", "Item"),
                    ("attack", "Attack"),
                    ("prompt", "Prompt"),
                    ("response", "Response"),
                    ("why", "Verdict rationale"),
                ],
                "worst",
            )
        )
    dis = disagreement_rows(result.records)
    if dis:
        parts.append(f"<h2>Judge disagreements ({len(dis)})</h2>")
        judge_cols = sorted({k for d in dis for k in d if k.startswith("judge:")})
        parts.append(
            _table(
                dis[:50],
                [
                    ("subject", "Subject"),
                    ("suite", "Suite"),
                    ("item_id", "Item"),
                    ("response", "Response"),
                    *[(k, k[6:]) for k in judge_cols],
                    ("human", "Human"),
                ],
                "disagree",
            )
        )
    parts.append(
        "<h2>Reproducibility</h2><pre>" + html.escape(json.dumps(meta, indent=2, default=str)) + "</pre>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(result: AuditResult, path: str | Path) -> Path:
    path = Path(path)
    return atomic_write_bytes(path, build_html(result).encode("utf-8"), what="write the HTML report")
