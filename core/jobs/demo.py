"""``demo.probe_sweep``: a real, small job that exercises the machinery without RL.

It trains one logistic-regression probe per layer on (synthetic or provided) per-layer features,
one full-batch gradient step per job step, emitting metrics, samples and a safetensors checkpoint every
step, so cancel/resume/crash recovery can be checked end to end. numpy + safetensors only.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from core.errors import InputError
from core.jobs.context import JobContext
from core.jobs.registry import register_job_type

TYPE_NAME = "demo.probe_sweep"


class ProbeSweepConfig(BaseModel):
    """Train a logistic-regression probe on every layer, step by step, and find the best layer."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(30, ge=1, le=100_000, description="Gradient steps (each updates every layer's probe).")
    n_layers: int = Field(8, ge=1, le=256, description="Layers of the synthetic dataset.")
    n_samples: int = Field(400, ge=20, le=200_000, description="Items in the synthetic dataset.")
    dim: int = Field(32, ge=2, le=8192, description="Feature size (hidden size) of the synthetic dataset.")
    learning_rate: float = Field(0.5, gt=0, le=100, description="Gradient-descent step size.")
    l2: float = Field(1e-3, ge=0, le=10, description="L2 penalty on the probe weights.")
    val_fraction: float = Field(0.25, gt=0.05, lt=0.9, description="Share of items held out for accuracy.")
    step_delay_s: float = Field(0.0, ge=0, le=60, description="Sleep after each step so a demo is watchable.")
    sample_every: int = Field(5, ge=1, description="Emit a text sample every N steps.")
    dataset: str | None = Field(
        None,
        description="Optional .safetensors with 'x' [layers, n, d] and 'y' [n] "
        "(0/1). Empty: synthetic data from the seed.",
    )
    seed: int = Field(0, description="Seed of the synthetic data and the split.")
    fail_checkpoint_at_step: int | None = Field(
        None,
        ge=1,
        description="Testing aid: on the first attempt, writing this step's checkpoint fails "
        "with 'No space left on device'.",
    )


def synthetic_layers(n_layers: int, n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x [layers, n, d], y [n]: the class signal peaks at ~2/3 depth, like safety features in real models."""
    rng = np.random.default_rng(seed)
    y = (rng.permutation(n) % 2).astype(np.int64)
    depth = np.linspace(0.0, 1.0, n_layers)
    strength = 2.5 * np.exp(-((depth - 0.65) ** 2) / 0.08)  # separation of the class means
    u = rng.standard_normal((n_layers, d))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    x = rng.standard_normal((n_layers, n, d))
    x += ((2 * y - 1)[None, :, None] * (strength[:, None, None] / 2)) * u[:, None, :]
    return x.astype(np.float32), y


def load_dataset(path: str) -> tuple[np.ndarray, np.ndarray]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(
            f"Dataset {p} not found: give a .safetensors file with 'x' [layers, n, d] and 'y' [n]."
        )
    arrays = load_file(str(p))
    if "x" not in arrays or "y" not in arrays:
        raise InputError(
            f"Dataset {p} needs tensors 'x' [layers, n, d] and 'y' [n]; it has {sorted(arrays)}."
        )
    x, y = arrays["x"].astype(np.float32), arrays["y"].astype(np.int64)
    if x.ndim != 3 or y.ndim != 1 or x.shape[1] != y.shape[0]:
        raise InputError(f"Dataset {p}: 'x' must be [layers, n, d] and 'y' [n]; got {x.shape} and {y.shape}.")
    if set(np.unique(y)) != {0, 1}:
        raise InputError(f"Dataset {p}: 'y' must contain both classes 0 and 1.")
    return x, y


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def save_checkpoint(path: Path, w: np.ndarray, b: np.ndarray, step: int) -> None:
    """Atomic write (tmp file + rename) so a crash mid-write never leaves a torn checkpoint."""
    tmp = path.with_suffix(".tmp")
    save_file({"w": w, "b": b}, str(tmp), metadata={"step": str(step)})
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    with safe_open(str(path), framework="numpy") as f:
        step = int((f.metadata() or {}).get("step", 0))
        return f.get_tensor("w"), f.get_tensor("b"), step


def run_probe_sweep(cfg: ProbeSweepConfig, ctx: JobContext) -> dict[str, Any]:
    x, y = (
        load_dataset(cfg.dataset)
        if cfg.dataset
        else synthetic_layers(cfg.n_layers, cfg.n_samples, cfg.dim, cfg.seed)
    )
    n_layers, n, d = x.shape
    order = np.random.default_rng(cfg.seed + 1).permutation(n)
    n_val = max(2, int(round(n * cfg.val_fraction)))
    val, tr = order[:n_val], order[n_val:]
    mu, sd = x[:, tr].mean(axis=1, keepdims=True), x[:, tr].std(axis=1, keepdims=True) + 1e-6
    xs = (x - mu) / sd  # [layers, n, d], train-split statistics
    w, b, start = np.zeros((n_layers, d), np.float32), np.zeros(n_layers, np.float32), 0
    if ctx.resume_from is not None:
        w, b, start = load_checkpoint(ctx.resume_from)
        ctx.log(f"resumed from {ctx.resume_from.name} (step {start})")
    ctx.log(f"probe sweep over {n_layers} layers, {len(tr)} train / {len(val)} validation items, d={d}")
    ckpt_dir = ctx.checkpoint_dir
    best, acc = 0, np.zeros(n_layers)
    for step in range(start + 1, cfg.steps + 1):
        if ctx.should_stop():
            ctx.log(f"stopping before step {step}: last checkpoint is step {step - 1}")
            break
        xt, yt = xs[:, tr], y[tr].astype(np.float32)
        p = _sigmoid(np.einsum("lnd,ld->ln", xt, w) + b[:, None])  # [layers, n_train]
        loss = -(yt * np.log(p + 1e-9) + (1 - yt) * np.log(1 - p + 1e-9)).mean(axis=1)
        grad = p - yt[None, :]
        w = (w - cfg.learning_rate * (np.einsum("ln,lnd->ld", grad, xt) / len(tr) + cfg.l2 * w)).astype(
            np.float32
        )
        b = (b - cfg.learning_rate * grad.mean(axis=1)).astype(np.float32)
        pv = _sigmoid(np.einsum("lnd,ld->ln", xs[:, val], w) + b[:, None])
        acc = ((pv > 0.5) == y[val][None, :]).mean(axis=1)
        best = int(np.argmax(acc))
        ctx.emit_metric(
            step,
            loss=float(loss.mean()),
            val_acc=float(acc[best]),
            best_layer=best,
            **{f"acc/layer_{i}": float(a) for i, a in enumerate(acc)},
        )
        if step % cfg.sample_every == 0 or step == cfg.steps:
            j = step % len(val)
            i = int(val[j])
            ctx.emit_sample(
                f"validation item #{i} (true label {int(y[i])})",
                f"layer {best} probe: P(label=1) = {float(pv[best, j]):.2f}",
                step,
            )
        path = ckpt_dir / f"step-{step:06d}.safetensors"
        if cfg.fail_checkpoint_at_step == step and ctx.attempt == 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        save_checkpoint(path, w, b, step)
        ctx.emit_checkpoint(path, step)
        old = ckpt_dir / f"step-{step - 2:06d}.safetensors"  # keep the last two checkpoints
        if old.exists():
            old.unlink()
        ctx.emit_progress(step, cfg.steps)
        if cfg.step_delay_s:
            time.sleep(cfg.step_delay_s)
    else:
        final = ctx.run_dir / "probe_weights.safetensors"
        save_checkpoint(final, w, b, cfg.steps)
        ctx.emit_artefact("probe_weights", final)
    return {"best_layer": best, "val_acc": round(float(acc[best]), 4)}


register_job_type(
    TYPE_NAME,
    ProbeSweepConfig,
    run_probe_sweep,
    presets={"quick": {"steps": 20, "step_delay_s": 0.05}, "slow": {"steps": 200, "step_delay_s": 0.5}},
    description="Train a logistic-regression probe per layer (synthetic or your data); finds the best layer.",
    key_metric="val_acc",
)
