"""The demo load's estimate: measured prefill and step times, corrected by real loads."""

from __future__ import annotations

import pytest

from core.capture.templates import build_messages
from core.samples.speed import DemoSpeed, demo_speed, load_speed, minutes_text, record_demo_load


def test_estimate_counts_batches_prefill_and_steps() -> None:
    s = DemoSpeed(prefill_s=2.0, step_s=0.5, batch_size=8, factor=1.0)
    assert s.raw_seconds(48, 24) == pytest.approx(6 * (2.0 + 23 * 0.5))
    assert s.raw_seconds(9, 1) == pytest.approx(2 * 2.0)
    assert minutes_text(30) == "under a minute" and minutes_text(250) == "≈ 4 min"


def test_calibrated_once_then_corrected_by_a_real_load(tiny_model, rs_home) -> None:
    chats = [build_messages(p) for p in ("hi", "tell me about cats", "what is 2+2?")]
    first = demo_speed(tiny_model, chats, 2)
    assert first.prefill_s > 0 and first.step_s >= 0 and first.measured_loads == 0
    assert demo_speed(tiny_model, chats, 2) == first  # recorded: no second calibration
    assert load_speed(tiny_model.fingerprint, 4) is None  # another batch size is measured again
    record_demo_load(tiny_model, first, 3, 24, seconds=first.raw_seconds(3, 24) * 2.5)
    again = load_speed(tiny_model.fingerprint, 2)
    assert again is not None and again.measured_loads == 1
    assert again.seconds(3, 24) == pytest.approx(first.raw_seconds(3, 24) * 2.5)
