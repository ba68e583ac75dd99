"""Progress text: measured rate and time left, never a constant."""

from __future__ import annotations

from core.jobs.eta import Eta, duration_text


def test_eta_comes_from_the_measured_speed():
    eta = Eta(total=48, unit="prompts", started=100.0)
    assert eta.seconds_left(0, now=130.0) is None
    assert eta.text(0, now=130.0) == "0/48 prompts · measuring speed (30 s so far)…"
    # 8 prompts in 40 s -> 5 s a prompt -> 40 left = 200 s
    assert eta.seconds_left(8, now=140.0) == 200.0
    assert eta.text(8, now=140.0) == "8/48 prompts · 0.20 prompts/s · about 3 min 20 s left"
    # the speed changed: the estimate follows (24 done in 60 s -> 2.5 s each -> 60 s left)
    assert eta.text(24, now=160.0).endswith("about 1 min 00 s left")
    assert eta.text(48, now=250.0) == "48/48 prompts · done in 2 min 30 s"


def test_duration_text():
    assert duration_text(4.4) == "4 s" and duration_text(3725) == "1 h 02 min" and duration_text(-3) == "0 s"


def test_staged_eta_restarts_per_stage_and_sums_up():
    from core.jobs.eta import StagedEta

    eta = StagedEta(
        {"capture": ("Capturing hidden states", "items"), "fit": ("Training probes", "layer fits")}
    )
    assert (
        eta.text("capture", 0, 48, now=10.0)
        == "Capturing hidden states: 0/48 items · measuring speed (0 s so far)…"
    )
    assert eta.text("capture", 12, 48, now=14.0).endswith("3.00 items/s · about 12 s left")
    assert eta.text("capture", 48, 48, now=26.0).endswith("done in 16 s")
    assert eta.text("fit", 0, 3, now=26.0).startswith("Training probes: 0/3 layer fits · measuring")
    assert eta.text("fit", 1, 3, now=28.0).endswith("about 4 s left")  # measured on the fits, not the capture
    assert eta.summary() == "Capturing hidden states 16 s · Training probes 2 s"
