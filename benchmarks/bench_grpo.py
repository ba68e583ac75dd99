"""GRPO step cost through ReasonScope vs the same TRL configuration run bare (limit 1.10x), and the extra cost
of CRAFT's latent reward (a forward pass of the policy inside the reward function), reported separately.

Both sides: same model, same LoRA config, same GRPOConfig, same prompts, same reward function (AlphaAlign's
``SafetyReward``), same seed -- so they sample the same rollouts. ReasonScope adds what a job adds: the
``JobProgressCallback`` (metrics / progress / checkpoint events, cancel check each step) writing events to a
JSONL file, and the trainer built by ``core.align.grpo.build_trainer``. The held-out monitor (an extra greedy
eval every k steps, optional) is not part of the per-step cost and is off here. Runs are interleaved A/B/A/B;
medians.

    python -m benchmarks.bench_grpo                 # the default model (slow on CPU: ~20 s per step idle)
    python -m benchmarks.bench_grpo --model tiny    # the tiny random model (machinery overhead only)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


class FileSink:
    def __init__(self, path: Path) -> None:
        self.f = path.open("a")

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        self.f.write(json.dumps({"kind": kind, "data": data}, default=str) + "\n")
        self.f.flush()

    def cancel_requested(self) -> bool:
        return False


def _setup(model_name: str, tmp: Path) -> tuple[Any, Any]:
    from core.align.configs import ALPHAALIGN_PRESETS, AlphaAlignConfig
    from core.align.training import resolve_source

    if model_name == "tiny":
        from core.capture.tiny import build_tiny_model

        model_name = str(build_tiny_model(tmp / "tiny"))
    cfg = AlphaAlignConfig(
        model=model_name,
        device="cpu",
        max_steps=3,
        prompts_per_step=4,
        num_generations=4,
        max_completion_length=48,
        monitor_items=0,
        save_every=10_000,
        warm_start=False,
        # the demo-cpu presets' LoRA placement (upper layers only); both sides get the same adapter config
        lora_first_layer=None
        if model_name.endswith("tiny")
        else ALPHAALIGN_PRESETS["demo-cpu"]["lora_first_layer"],
    )
    return cfg, resolve_source(model_name)


def _state(
    cfg: Any, source: str, items: list[Any], rows: list[dict[str, Any]], run_dir: Path | None = None
) -> Any:
    """A fresh policy in a ``RunState``; with ``run_dir``, a job context writing events to a JSONL file."""
    from core.align.pipeline import RunState
    from core.align.training import load_policy
    from core.jobs.context import JobContext

    policy, tok = load_policy(source)
    ctx = JobContext("bench", sink=FileSink(run_dir / "events.jsonl"), run_dir=run_dir) if run_dir else None
    return RunState(
        cfg=cfg,
        ctx=ctx,
        method="bench",
        device="cpu",
        source=source,
        policy=policy,
        tokenizer=tok,
        train=items,
        monitor=[],
        validation=[],
        rows=rows,
    )


def run_once(
    side: str,
    cfg: Any,
    source: str,
    items: list[Any],
    rows: list[dict[str, Any]],
    tmp: Path,
    latent: Any = None,
) -> dict[str, float]:
    """Train ``cfg.max_steps`` GRPO steps; returns wall seconds of ``train()`` and per-reward call seconds."""
    from trl import GRPOTrainer

    from core.align import grpo
    from core.align.rewards import SafetyReward
    from core.align.training import lora_for, quiet, seed_all

    seed_all(cfg.seed)
    run_dir = Path(tempfile.mkdtemp(dir=tmp, prefix=f"{side}-"))
    st = _state(cfg, source, items, rows, run_dir)
    timed: dict[str, float] = {"reward_s": 0.0}

    def timed_reward(fn: Any) -> Any:
        def call(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            out = fn(*a, **k)
            timed["reward_s"] += time.perf_counter() - t
            return out

        call.__name__ = getattr(fn, "__name__", "reward")
        return call

    rewards: list[Any] = [SafetyReward(shaped=True)]
    if latent is not None:
        rewards = [latent]
    args = grpo.grpo_config(st)
    if side == "bare":
        trainer = quiet(
            GRPOTrainer(
                model=st.policy,
                reward_funcs=[timed_reward(r) for r in rewards],
                args=args,
                train_dataset=grpo.grpo_dataset(st),
                processing_class=st.tokenizer,
                peft_config=lora_for(cfg, st.policy),
            )
        )
    else:
        trainer = grpo.build_trainer(st, st.policy, [timed_reward(r) for r in rewards], args=args)
    for r in rewards:
        if hasattr(r, "bind"):
            r.bind(trainer.model)
    t, c = time.perf_counter(), time.process_time()
    trainer.train()
    return {
        "train_s": time.perf_counter() - t,
        "cpu_s": time.process_time() - c,
        "reward_s": timed["reward_s"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default", help="'default' or 'tiny'")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument(
        "--threads", type=int, default=0, help="torch threads (0 = auto, see core.align.training)"
    )
    ap.add_argument("--no-latent", action="store_true", help="skip the CRAFT latent-reward measurement")
    args = ap.parse_args()

    from core.align import data as D
    from core.align.training import set_threads

    threads = set_threads(args.threads)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cfg, source = _setup(args.model, tmp)
        cfg = cfg.model_copy(update={"max_steps": args.steps})
        rows = D.load_rows("sample")
        items = D.split(D.prompt_items(rows), "train")
        times: dict[str, list[float]] = {"bare": [], "reasonscope": []}
        cpu: dict[str, list[float]] = {"bare": [], "reasonscope": []}
        for _ in range(args.repeats):
            for side in ("bare", "reasonscope"):  # interleaved
                r = run_once(side, cfg, source, items, rows, tmp)
                times[side].append(r["train_s"] / args.steps)
                cpu[side].append(r["cpu_s"] / args.steps)
        print(
            f"\n## GRPO step, {args.model} model, {cfg.prompts_per_step} prompts x {cfg.num_generations} "
            f"rollouts x {cfg.max_completion_length} tokens, LoRA r={cfg.lora_r}, {threads} torch threads"
        )
        # wall time is what a user waits; process CPU time is what the step costs, and is far less sensitive
        # to other processes on a shared machine (both sides sample the same rollouts: same seed, same config)
        for label, series in (("wall", times), ("CPU", cpu)):
            med = {k: statistics.median(v) for k, v in series.items()}
            ratio = med["reasonscope"] / med["bare"]
            for k, v in series.items():
                print(f"  {label:4s} {k:12s} median {med[k]:8.2f} s/step   runs {[round(x, 2) for x in v]}")
            print(
                f"  {label:4s} ratio reasonscope / bare = {ratio:.3f}  "
                f"{'OK' if ratio <= 1.10 else 'OVER 1.10x'}"
            )
        if not args.no_latent:
            from core.align.latent import CraftReward
            from core.probes.contrastive import ContrastiveConfig, train_contrastive

            st = _state(cfg.model_copy(update={"template": "alphaalign"}), source, items, rows)
            policy, tok = st.policy, st.tokenizer
            from core.align.craft import _traces
            from core.align.latent import pooled_policy_states

            chats, ids, labels = _traces(st)
            chats, ids, labels = (
                chats[::6],
                ids[::6],
                labels[::6],
            )  # ~76 traces: enough for a head to time with
            layer = max(1, round(2 * policy.config.num_hidden_layers / 3))
            X = pooled_policy_states(policy, tok, chats, ids, layer=layer)
            head = train_contrastive(X, labels, config=ContrastiveConfig(epochs=20), layer=layer)
            res = run_once("reasonscope", cfg, source, items, rows, tmp, latent=CraftReward(head, tok))
            per = res["train_s"] / args.steps
            lat = res["reward_s"] / args.steps
            print(
                f"  CRAFT reward (latent forward of {cfg.prompts_per_step * cfg.num_generations} rollouts + "
                f"text judge): {lat:.2f} s/step of {per:.2f} s/step ({100 * lat / per:.1f} %)"
            )


if __name__ == "__main__":
    main()
