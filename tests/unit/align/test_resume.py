"""Cancel + resume of a GRPO alignment job gives the same adapter as an uninterrupted run with the same seed.

CRAFT is used because its latent reward varies on any completion, so even the random tiny model gets a
non-zero gradient (AlphaAlign's verifiers score every random completion 0).

The resumed attempt restarts from the checkpoint the cancel left (adapter, optimizer, scheduler, RNG states
and the data-loader position are restored by the Trainer), so rollouts are sampled from the same RNG
stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.jobs.context import JobContext
from tests.align_helpers import TINY_GRPO, ListSink, write_dataset


def _adapter(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(path / "adapter_model.safetensors"))


def test_resume_after_cancel_matches_uninterrupted_run(tiny_model_dir: Path, tmp_path: Path) -> None:
    from core.align.configs import CraftConfig
    from core.align.craft import run_craft

    data = write_dataset(tmp_path / "d.jsonl")
    cfg = CraftConfig(
        model=str(tiny_model_dir),
        dataset=str(data),
        head_layer=1,
        **{
            **TINY_GRPO,
            "max_steps": 4,
            "warm_start": False,
            "audit": False,
            "monitor_items": 0,
            "learning_rate": 5e-3,
        },
    )

    full = run_craft(cfg, JobContext("a", sink=ListSink(), run_dir=tmp_path / "full"))

    sink = ListSink(cancel_after_step=2, cancel_total=4)
    ctx = JobContext("b", sink=sink, run_dir=tmp_path / "resumed")
    first = run_craft(cfg, ctx)
    assert first == {"cancelled": "during GRPO"}
    ckpt = ctx.last_checkpoint()
    assert ckpt is not None and ckpt.name == "checkpoint-2" and ckpt.parent.name == "grpo"
    assert not (tmp_path / "resumed" / "adapter").exists()

    ctx2 = JobContext("b", sink=ListSink(), run_dir=tmp_path / "resumed", attempt=2, resume_from=ckpt)
    second = run_craft(cfg, ctx2)
    a, b = _adapter(Path(full["adapter"])), _adapter(Path(second["adapter"]))
    assert a.keys() == b.keys()
    moved = max(float(np.abs(v).max()) for k, v in a.items() if "lora_B" in k)
    assert moved > 0, "training changed the adapter"
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=0, atol=1e-6, err_msg=k)
