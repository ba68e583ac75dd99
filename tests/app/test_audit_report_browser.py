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
