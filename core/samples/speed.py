"""How long loading the demo trajectories takes on this machine, from measured speed (not a constant).

The estimate is ``batches x (prefill + (new_tokens - 1) x decoding step) x factor``: prefill and step are
timed once per model and install (a short raw ``generate`` of one demo batch: 1 and then 3 new tokens), and
``factor`` (capture + store on top of generation, 1.1 until measured) is corrected by every real demo load.
Kept in ``artefacts_dir()/speed/<fingerprint>.json``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from core.capture.models import LoadedModel
from core.capture.tracing import _left_pad
from core.capture.trajectory import Message
from core.config import artefacts_dir

DEFAULT_FACTOR = 1.1  # capture of every layer + the store write, over raw generate (bench_demo_load)


@dataclass(frozen=True, kw_only=True)
class DemoSpeed:
    prefill_s: float  # one batch's prompt forward (+ the first token)
    step_s: float  # one decoding step of a batch
    batch_size: int
    factor: float = DEFAULT_FACTOR  # actual demo load / raw estimate, from the last real load
    measured_loads: int = 0  # real demo loads that corrected ``factor``

    def raw_seconds(self, n: int, max_new_tokens: int) -> float:
        batches = math.ceil(n / self.batch_size)
        return batches * (self.prefill_s + max(0, max_new_tokens - 1) * self.step_s)

    def seconds(self, n: int, max_new_tokens: int) -> float:
        return self.raw_seconds(n, max_new_tokens) * self.factor


def _path(fingerprint: str) -> Path:
    return artefacts_dir() / "speed" / f"{fingerprint[:32]}.json"


def load_speed(fingerprint: str, batch_size: int) -> DemoSpeed | None:
    try:
        speed = DemoSpeed(**json.loads(_path(fingerprint).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return speed if speed.batch_size == batch_size else None


def save_speed(fingerprint: str, speed: DemoSpeed) -> None:
    path = _path(fingerprint)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(speed)))
    except OSError:
        pass  # an estimate measured again next time is fine; never fail the page over it


def calibrate(model: LoadedModel, chats: list[list[Message]], batch_size: int) -> DemoSpeed:
    """Time a raw greedy ``generate`` of one batch of ``chats`` with 1 and 3 new tokens (best of 2 each)."""
    import torch

    rows = sorted((model.encode_chat(c) for c in chats), key=len)[:batch_size]
    ids, mask = _left_pad(rows, model.tokenizer.pad_token_id)

    def run(n_new: int) -> float:
        t0 = time.perf_counter()
        model.hf_model.generate(
            input_ids=ids.to(model.device),
            attention_mask=mask.to(model.device),
            max_new_tokens=n_new,
            min_new_tokens=n_new,
            do_sample=False,
            pad_token_id=model.tokenizer.pad_token_id,
        )
        return time.perf_counter() - t0

    with model.lock, torch.inference_mode():
        run(1)  # warm-up (first-call allocations)
        one = min(run(1) for _ in range(2))
        three = min(run(3) for _ in range(2))
    return DemoSpeed(prefill_s=one, step_s=max(0.0, (three - one) / 2), batch_size=batch_size)


def demo_speed(model: LoadedModel, chats: list[list[Message]], batch_size: int) -> DemoSpeed:
    """The recorded speed of this model, or a calibration now (a second or two), recorded."""
    speed = load_speed(model.fingerprint, batch_size)
    if speed is None:
        speed = calibrate(model, chats, batch_size)
        save_speed(model.fingerprint, speed)
    return speed


def record_demo_load(
    model: LoadedModel, speed: DemoSpeed, n: int, max_new_tokens: int, seconds: float
) -> None:
    """Correct ``factor`` with a real demo load's duration (so the next estimate includes this machine's
    capture and store costs)."""
    raw = speed.raw_seconds(n, max_new_tokens)
    if raw > 0 and seconds > 0:
        save_speed(
            model.fingerprint, replace(speed, factor=seconds / raw, measured_loads=speed.measured_loads + 1)
        )


def minutes_text(seconds: float) -> str:
    """``under a minute`` / ``≈ 4 min``."""
    return "under a minute" if seconds < 60 else f"≈ {max(1, round(seconds / 60))} min"
