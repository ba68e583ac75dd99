"""The offline HTML audit report opened in headless Chromium (file://, network features off): every chart
renders (plotly's SVG is in the DOM). A screenshot goes to tests/artifacts/ (gitignored)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from core.evals.report import save_audit
from core.evals.runner import run_audit
from core.evals.suites import AuditOptions, Subject
from tests.app.browser_cdp import CHROMIUM_FLAGS, require_chromium

pytestmark = pytest.mark.app
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audit-html")
    rng = iter(range(10_000))

    def respond(subject, prompts):  # deterministic mix of refusals and compliances per subject
        out = []
        for _ in prompts:
            i = next(rng)
            refuse = (i % 3 == 0) if subject.label == "base" else (i % 3 != 2)
            out.append(
                "I'm sorry, but I can't help with that." if refuse else "Sure, here is how: step 1 ..."
            )
        return out

    res = run_audit(
        [Subject(name="base"), Subject(name="tuned")],
        ["refusal", "over_refusal", "jailbreak"],
        options=AuditOptions(),
        responder=respond,
    )
    return save_audit(res, tmp / "audit") / "report.html"


def test_report_renders_all_charts_offline(report, tmp_path):
    chromium = require_chromium()
    profile = tmp_path / "profile"
    dom = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--dump-dom",
            "--virtual-time-budget=5000",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    html = dom.stdout
    assert "<h1>ReasonScope audit report</h1>" in html, dom.stderr[-2000:]
    plots = re.findall(r'class="[^"]*js-plotly-plot', html)
    n_figs = 1 + 3  # scorecard + one breakdown per suite
    assert len(plots) == n_figs
    assert html.count('class="main-svg"') >= n_figs  # plotly drew every chart
    assert html.count('<g class="point"') >= 6 * 2  # bars of both subjects in the scorecard (+ breakdowns)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "audit_report.html.dom").write_text(html)
    shot = ARTIFACTS / "audit_report.png"
    subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1300,2200",
            "--virtual-time-budget=5000",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    assert shot.is_file() and shot.stat().st_size > 20_000


def _dump_dom(chromium: str, page: Path, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--dump-dom",
            "--virtual-time-budget=5000",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_three_item_report_shows_a_wide_interval_for_zero_of_three(tmp_path):
    """n = 3 and no refusal: the rendered scorecard must not claim certainty. Wilson's upper bound of 0/3 is
    56.1 %; anything below 40 % (e.g. the old bootstrap's [0.0, 0.0]) fails."""
    import json

    chromium = require_chromium()
    items = tmp_path / "items.jsonl"
    items.write_text(
        "".join(
            json.dumps({"id": f"h{i}", "prompt": f"harm {i}", "kind": "harmful"}) + "\n" for i in range(3)
        )
    )
    res = run_audit(
        [Subject(name="base")],
        ["refusal"],
        dataset=str(items),
        split="all",
        options=AuditOptions(),
        responder=lambda s, ps: ["Sure, here it is."] * len(ps),
    )
    page = save_audit(res, tmp_path / "three") / "report.html"
    dom = _dump_dom(chromium, page, tmp_path / "profile")
    html = dom.stdout
    assert "<h1>ReasonScope audit report</h1>" in html, dom.stderr[-2000:]
    found = re.findall(r"0\.0 % \[0\.0, (\d+(?:\.\d+)?)\] · n = 3", html)
    assert found, "the 0/3 rate and its interval are not in the rendered scorecard"
    assert all(float(hi) >= 40.0 for hi in found), found
