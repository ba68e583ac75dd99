"""``reasonscope story export``: the six steps as one self-contained HTML file for people without the app.

plotly.js is inlined once (``include_plotlyjs=True`` on the first figure, as the audit report does): no CDN,
no fonts, no request of any kind, so it opens on an air-gapped laptop. Every string from a model or a dataset
is HTML-escaped. ← / → (or PageUp / PageDown, space) step through; "all steps" shows them together.
"""

from __future__ import annotations

import html
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

from core.fsio import atomic_write_bytes
from core.story import facts, figures
from core.story.read import Story, load_story
from core.story.steps import STEPS

MAX_BYTES = 10 * 2**20

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;font-size:22px;
line-height:1.45;margin:0;color:#222}
header{padding:12px 28px;background:#0072B2;color:#fff;display:flex;
justify-content:space-between;align-items:center}
header button{font-size:20px;margin-left:8px;padding:6px 16px}
section.step{display:none;padding:16px 40px}
body.all section.step, section.step.active{display:block}
h2{font-size:36px;margin:8px 0}
p.sentence{font-size:28px;margin:4px 0 12px}
details{font-size:20px;background:#F2F2F2;padding:8px 14px;margin:8px 0}
.cols{display:flex;gap:24px;flex-wrap:wrap}.cols>div{flex:1 1 520px;min-width:0}
.answer{white-space:pre-wrap;background:#fafafa;border-left:6px solid #7F7F7F;padding:8px 12px;font-size:19px}
.harmful{border-left-color:#D55E00}.benign{border-left-color:#009E73}
table{border-collapse:collapse;font-size:19px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
footer{font-size:15px;color:#555;padding:8px 40px}
"""
JS = """
(function(){const s=[...document.querySelectorAll('section.step')];let i=0;
function show(n){i=Math.max(0,Math.min(s.length-1,n));s.forEach((e,k)=>e.classList.toggle('active',k===i));
document.getElementById('pos').textContent=(i+1)+' / '+s.length;window.dispatchEvent(new Event('resize'));}
document.addEventListener('keydown',e=>{
if(['ArrowRight','PageDown',' '].includes(e.key)){show(i+1);e.preventDefault();}
if(['ArrowLeft','PageUp'].includes(e.key)){show(i-1);e.preventDefault();}});
document.getElementById('next').onclick=()=>show(i+1);document.getElementById('prev').onclick=()=>show(i-1);
document.getElementById('all').onclick=()=>{document.body.classList.toggle('all');
window.dispatchEvent(new Event('resize'));};
window.storyShow=show;show(0);})();
"""


def _e(x: object) -> str:
    return html.escape("" if x is None else str(x))


def _answer(title: str, a: dict, css: str) -> str:
    return (
        f"<div><h3>{_e(title)}</h3><p><b>Prompt:</b> {_e(a.get('prompt'))}</p>"
        f"<div class='answer {css}'>{_e(a.get('answer'))}</div>"
        + ("<p>Live monitor: " if a.get("id") is None else "<p>Audit verdict: ")
        + f"<b>{_e(a.get('label'))}</b></p></div>"
    )


def _table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{_e(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in r.values()) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


class _Figs:
    """Figures as HTML divs; plotly.js goes inline with the first one only."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, fig: go.Figure) -> str:
        self.n += 1
        return pio.to_html(
            fig, full_html=False, include_plotlyjs=self.n == 1, config={"displayModeBar": False}
        )


def _bodies(story: Story, fig: _Figs) -> list[str]:
    mon = story.monitor or {}
    ex = "".join(
        "<div class='cols'>"
        + _answer(
            "Before", {"prompt": e["prompt"], "answer": e["before"], "label": e["before_label"]}, "harmful"
        )
        + _answer("After", {"prompt": e["prompt"], "answer": e["after"], "label": e["after_label"]}, "benign")
        + "</div>"
        for e in story.examples
    )
    return [
        "<div class='cols'>"
        + _answer("Harmful request", story.pair["harmful"], "harmful")
        + _answer("Benign counterpart", story.pair["benign"], "benign")
        + "</div>",
        "<div class='cols'><div>"
        + (fig(figures.grids_figure(story.grids)) if story.grids else "<p>No grids.</p>")
        + "</div><div>"
        + fig(figures.auroc_figure(story.auroc, story.probe_layer))
        + "</div></div>"
        + "".join(f"<p>{_e(line)}</p>" for line in facts.knows_lines(story)),
        (fig(figures.monitor_figure(mon)) if mon else "")
        + "".join(f"<p>{_e(line)}</p>" for line in facts.guard_lines(story))
        + (
            "<div class='cols'>"
            + _answer(
                "No guard",
                {"prompt": mon.get("prompt"), "answer": mon.get("completion"), "label": "unguarded"},
                "harmful",
            )
            + _answer(
                "Guard: stop at the flag",
                {
                    "prompt": mon.get("prompt"),
                    "answer": mon.get("guarded_completion") or "(stopped before the first token)",
                    "label": "stopped" if mon.get("stopped") else "not stopped",
                },
                "benign",
            )
            + "</div>"
            if mon
            else ""
        ),
        fig(figures.curves_figure(story.curves))
        if story.curves
        else "<p>No training metrics in the job log.</p>",
        _table(facts.scorecard_rows(story))
        + fig(figures.scorecard_figure(story.rates))
        + "".join(f"<p>{_e(line)}</p>" for line in facts.states_knew_lines(story))
        + ex,
        "<div class='cols'><div>"
        + (fig(figures.repdiff_figure(story.repdiff)) if story.repdiff else "<p>No representation diff.</p>")
        + "</div><div>"
        + (fig(figures.map_figure(story.map)) if story.map else "<p>No map.</p>")
        + "</div></div>",
    ]


def story_html(story: Story) -> str:
    fig = _Figs()
    sections = []
    for i, (step, body) in enumerate(zip(STEPS, _bodies(story, fig), strict=True)):
        sections.append(
            f"<section class='step' id='step-{i + 1}' data-step='{step.key}'><h2>{_e(step.title)}</h2>"
            f"<p class='sentence'>{_e(step.sentence)}</p>"
            f"<details><summary>What am I looking at?</summary>{_e(step.explainer)}</details>{body}</section>"
        )
    prov = "<br>".join(_e(line) for line in facts.provenance_lines(story))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>ReasonScope story</title>"
        f"<style>{CSS}</style></head><body>"
        "<header><b>ReasonScope · the model knew, it complied, we changed it</b>"
        "<span><span id='pos'></span><button id='prev'>← previous</button><button id='next'>next →</button>"
        "<button id='all'>all steps</button></span></header>"
        + "".join(sections)
        + f"<footer>{prov}</footer><script>{JS}</script></body></html>"
    )


def export_story(out: str | Path, root: Path | None = None) -> Path:
    """Write the offline HTML of the bundle at ``root`` (default ``story_dir()``) to ``out``."""
    data = story_html(load_story(root)).encode()
    if len(data) > MAX_BYTES:
        raise ValueError(f"the story export is {len(data) / 2**20:.1f} MB, over the 10 MB budget")
    return atomic_write_bytes(Path(out), data, what="write the story export")
