"""A short audit of the real default model, end to end from the CLI (fresh process, as a user runs it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_short_audit_from_the_cli(tmp_path):
    exe = Path(sys.executable).parent / "reasonscope"
    out = tmp_path / "audit"
    proc = subprocess.run(
        [
            str(exe),
            "eval",
            "--subject",
            "default",
            "--subject",
            "model=default template=alphaalign name=aa",
            "--suite",
            "refusal,over_refusal,jailbreak,utility",
            "--dataset",
            "minimal-pairs",  # the stress set: it carries dataset jailbreaks as well (counted below)
            "--limit",
            "2",
            "--max-new-tokens",
            "24",
            "--device",
            "cpu",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Harmful refusal rate" in proc.stdout and "McNemar" in proc.stdout
    records = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    # per subject: 2 harmful + 2 benign + 2 borderline + (2 attacked + 2 dataset jailbreaks) + 2 utility
    assert len(records) == 2 * 12
    assert all(r["response"].strip() for r in records), "the default model answered every prompt"
    meta = json.loads((out / "meta.json").read_text())
    assert meta["subjects"][0]["fingerprint"] and meta["subjects"][0]["n_generated_tokens"] > 0
    assert meta["dataset_hash"] and meta["packages"]["transformers"]
    html = (out / "report.html").read_text()
    assert html.count("Plotly.newPlot") == 5  # scorecard + 4 breakdowns
    rep = subprocess.run([str(exe), "report", str(out)], capture_output=True, text=True, timeout=300)
    assert rep.returncode == 0 and "Utility" in rep.stdout
