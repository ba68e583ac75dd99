"""LoRA / TRL plumbing shared by the alignment methods: the policy, generation, trainer arguments,
the held-out monitor callback, checkpoints and resume.

Run-folder layout (``ctx.run_dir``)::

    data/          generated training data (benign self-answers, Rational rationales) -- cached for resume
    warmstart/     SFT warm start: checkpoint-N/ while running, adapter/ when done
    grpo/          GRPO checkpoints (checkpoint-N/: adapter + optimizer + scheduler + RNG states)
    sft/           Rational's SFT checkpoints
    adapter/       the final LoRA adapter -> a subject everywhere via ModelSpec(adapter=...)
    audit/         before/after audit and representation diff (JSON)

A checkpoint's parent folder names its phase, so ``resume`` knows where to continue.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.align.rewards import format_verifier, refusal_verifier
from core.capture.models import ModelSpec, _resolve_source, resolve_device
from core.capture.shared_prefix import (
    MIN_SHARED_PREFIX,
    cache_argument,
    common_prefix_length,
    expanded_cache,
    prefix_cache,
    repeatable,
    shared_prefix_batch,
)
from core.capture.templates import build_messages
from core.errors import InputError
from core.fsio import atomic_write_bytes
from core.jobs.context import JobContext
from core.labelled import LabelledItem

Message = dict[str, str]


def resolve_source(model_name: str) -> str:
    """Local folder of ``model_name`` ('default' = the embedded SmolLM2, pulled once)."""
    return _resolve_source(ModelSpec(name=model_name))[0]


def pick_device(device: str) -> str:
    return resolve_device(device)


def set_threads(threads: int) -> int:
    """Set torch's CPU threads; ``0`` = auto: every core on an idle machine, 1 when other processes already
    keep more than ``cores - 1`` cores busy (OpenMP threads spin-wait on oversubscribed cores: generation with
    2 threads on 2 busy cores measured 1.0 tok/s vs 11.5 tok/s with 1 thread). Returns the count used.

    "Busy" is measured now (``cores_busy_elsewhere``), not by the 1-minute load average: that average still
    reads ~1 for a minute after a heavy process ends, and a 25-minute job started then ran on one thread
    of two idle cores (measured)."""
    import torch

    n = threads
    if n <= 0:
        cores = os.cpu_count() or 1
        busy_elsewhere = cores_busy_elsewhere()
        if busy_elsewhere is None:  # no /proc/stat: the load average is the signal left
            try:
                busy_elsewhere = os.getloadavg()[0]
            except OSError:
                busy_elsewhere = 0.0
        n = 1 if busy_elsewhere > cores - 1 else cores
    torch.set_num_threads(n)
    return n


def cores_busy_elsewhere(window_s: float = 0.5, stat_path: str = "/proc/stat") -> float | None:
    """Cores other processes keep busy right now: the machine's busy share over ``window_s`` (``/proc/stat``)
    times the core count, minus this process's own CPU time in that window. None where ``/proc/stat`` cannot
    be read (not Linux)."""

    def snapshot() -> tuple[int, int]:
        with open(stat_path, encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle  # user..steal; guest time is already inside user

    try:
        total0, idle0 = snapshot()
        own0, t0 = time.process_time(), time.monotonic()
        time.sleep(window_s)
        total1, idle1 = snapshot()
        own = time.process_time() - own0
        wall = time.monotonic() - t0
    except (OSError, ValueError, IndexError):
        return None
    ticks = total1 - total0
    if ticks <= 0 or wall <= 0:
        return None
    cores = os.cpu_count() or 1
    busy = cores * (1.0 - (idle1 - idle0) / ticks)
    return max(0.0, busy - own / wall)


def seed_all(seed: int) -> None:
    import torch
    from transformers import set_seed

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    set_seed(seed)


def load_policy(source: str, *, device: str = "cpu", dtype: str = "float32") -> tuple[Any, Any]:
    """A plain Hugging Face causal LM + tokenizer to train (TRL needs the module, not the nnsight wrapper)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(source, local_files_only=Path(source).exists())
    model = AutoModelForCausalLM.from_pretrained(
        source, dtype=getattr(torch, dtype), local_files_only=Path(source).exists()
    )
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.config.pad_token_id = tok.pad_token_id
    return model.to(device), tok


def lora_config(
    r: int,
    alpha: int,
    dropout: float,
    targets: Sequence[str],
    *,
    first_layer: int | None = None,
    n_layers: int | None = None,
) -> Any:
    """peft LoRA config; with ``first_layer`` only decoder layers ``first_layer..n_layers-1`` get adapters
    (the frozen lower layers then compute the same activations at every step: the verdict SFT caches them)."""
    from peft import LoraConfig

    if first_layer is not None:
        if n_layers is None or not 0 <= first_layer < n_layers:
            raise InputError(
                f"lora_first_layer {first_layer} is outside the model's 0..{(n_layers or 1) - 1} decoder "
                "layers; pick one in that range or leave it empty for LoRA on every layer."
            )
        return LoraConfig(
            r=r,
            lora_alpha=alpha,
            lora_dropout=dropout,
            target_modules=list(targets),
            bias="none",
            task_type="CAUSAL_LM",
            layers_to_transform=list(range(first_layer, n_layers)),
            layers_pattern="layers",
        )
    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(targets),
        bias="none",
        task_type="CAUSAL_LM",
    )


def n_decoder_layers(model: Any) -> int:
    return int(model.config.num_hidden_layers)


def lora_for(cfg: Any, model: Any) -> Any:
    """The run's LoRA config (``cfg.lora_*``) for ``model``."""
    return lora_config(
        cfg.lora_r,
        cfg.lora_alpha,
        cfg.lora_dropout,
        cfg.lora_targets,
        first_layer=getattr(cfg, "lora_first_layer", None),
        n_layers=n_decoder_layers(model),
    )


def check_lora_targets(model: Any, targets: Sequence[str]) -> None:
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [t for t in targets if t not in names]
    if missing:
        raise InputError(
            f"LoRA target modules {missing} do not exist in this model; it has e.g. "
            f"{sorted(n for n in names if n.endswith('proj'))[:10]}. Set lora_targets accordingly."
        )


def trainer_args(
    *,
    output_dir: Path,
    device: str,
    seed: int,
    lr: float,
    max_steps: int,
    save_every: int,
    warmup_steps: int = 0,
    scheduler: str = "constant_with_warmup",
) -> dict[str, Any]:
    """TrainingArguments shared by GRPO and SFT. CPU: float32 (``bf16`` on CPU was ~10x slower, TRL default
    bf16 fails without a GPU); GPU: bf16."""
    on_gpu = device == "cuda"
    return dict(
        output_dir=str(output_dir),
        seed=seed,
        data_seed=seed,
        learning_rate=lr,
        max_steps=max_steps,
        lr_scheduler_type=scheduler,
        warmup_steps=warmup_steps,
        logging_steps=1,
        save_strategy="steps",
        save_steps=max(1, save_every),
        save_total_limit=2,
        report_to=[],
        disable_tqdm=True,
        use_cpu=not on_gpu,
        bf16=on_gpu,
        fp16=False,
        # TRL turns gradient checkpointing on by default; on CPU memory is plentiful for the small models
        # the demo presets train and recomputing the forward pass costs ~1/3 more time per step
        gradient_checkpointing=on_gpu,
        dataloader_num_workers=0,
        remove_unused_columns=False,
    )


def quiet(trainer: Any) -> Any:
    """Training reports through callbacks, never prints: drop the Trainer's stdout printer."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


def chat_for(item: LabelledItem | str, template: str, system: str | None = None) -> list[Message]:
    prompt = item.prompt if isinstance(item, LabelledItem) else item
    return build_messages(prompt, template=template, system=system)


def lora_layers(model: Any) -> list[Any]:
    """peft's LoRA layers of ``model`` ([] for a plain model)."""
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:  # peft not installed: no model can carry LoRA layers
        return []
    return [m for m in model.modules() if isinstance(m, LoraLayer)]


@contextlib.contextmanager
def merged_lora(model: Any) -> Iterator[bool]:
    """Fold the active LoRA adapter into the base weights for the block (generation then costs what the
    base model's does), and put the base weights back exactly afterwards (saved copies, not peft's
    subtraction, which would leave float rounding behind). Yields whether it merged: a plain model, an
    adapter already merged, or one disabled by ``model.disable_adapter()`` (the base model is wanted) are
    left as they are."""
    import torch

    layers = lora_layers(model)
    if (
        not layers
        or not hasattr(model, "merge_adapter")
        or any(getattr(m, "merged", False) or getattr(m, "disable_adapters", False) for m in layers)
    ):
        yield False
        return
    saved = {id(m): m.get_base_layer().weight.detach().clone() for m in layers}
    with torch.no_grad():
        model.merge_adapter()
    try:
        yield True
    finally:
        with torch.no_grad():
            model.unmerge_adapter()
            for m in layers:
                m.get_base_layer().weight.copy_(saved[id(m)])


def generate(
    model: Any,
    tokenizer: Any,
    chats: Sequence[list[Message]],
    *,
    max_new_tokens: int,
    batch_size: int = 16,
    do_sample: bool = False,
    temperature: float = 1.0,
    n: int = 1,
    seed: int = 0,
    should_stop: Callable[[], bool] | None = None,
    prefill: str | Sequence[str] = "",
) -> list[list[str]]:
    """``n`` completions per chat (left-padded batches, eval mode, no grad). Stops early (returning what it
    has) when ``should_stop()`` turns true. ``prefill`` starts the assistant turn with that text (one for all
    chats or one per chat; returned included)."""
    import torch

    device = next(model.parameters()).device
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    pre = [prefill] * len(chats) if isinstance(prefill, str) else list(prefill)
    all_texts = [
        tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) + p
        for c, p in zip(chats, pre, strict=True)
    ]
    rows = tokenizer(all_texts, add_special_tokens=False)["input_ids"]
    # batches of similar length pad less (prefill and every decode step pay for the padding); sampled
    # generation keeps the given order so a seed gives the same samples whatever the other prompts are
    order = (
        sorted(range(len(chats)), key=lambda i: len(rows[i])) if not do_sample else list(range(len(chats)))
    )
    # the system prompt and chat header every prompt shares are prefilled once per call, not once per row
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft: the wrapped model
    cache_kw = cache_argument(base)  # "cache" (transformers 5) / "past_key_values" / None
    n_shared = common_prefix_length(rows) if n == 1 and cache_kw is not None else 0
    n_shared = n_shared if n_shared >= MIN_SHARED_PREFIX else 0
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    got: dict[int, list[str]] = {}
    # sampling reseeds the global generator per batch (HF generate takes no generator): fork it, so what is
    # trained after a sampled generation does not depend on whether the samples were generated or read back
    # from a cache (a Rational run with fresh rationales trained differently from one reusing them)
    rng_devices = [device.index or 0] if device.type == "cuda" else []
    try:
        with merged_lora(model), torch.random.fork_rng(devices=rng_devices, enabled=do_sample):
            shared = prefix_cache(model, rows[order[0]][:n_shared], device) if n_shared else None
            if shared is not None and not repeatable(shared):  # plain left padding for this cache type
                shared, n_shared = None, 0
            for s in range(0, len(order), batch_size):
                if should_stop is not None and should_stop():
                    break
                idx = order[s : s + batch_size]
                enc = shared_prefix_batch([rows[i] for i in idx], n_shared, pad_id, device)
                if shared is not None:
                    enc[str(cache_kw)] = expanded_cache(shared, len(idx))
                kw: dict[str, Any] = {
                    "max_new_tokens": max_new_tokens,
                    "do_sample": do_sample,
                    "pad_token_id": tokenizer.pad_token_id,
                    "num_return_sequences": n,
                }
                if do_sample:
                    kw.update(temperature=temperature, top_p=1.0, top_k=0)
                    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
                with torch.no_grad():
                    ids = model.generate(**enc, **kw)
                done = tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
                for j, i in enumerate(idx):
                    got[i] = [(pre[i] + t).strip() for t in done[j * n : (j + 1) * n]]
    finally:
        tokenizer.padding_side = old_side
        model.train(was_training)
    out: list[list[str]] = []
    for i in range(len(chats)):  # stopped early: the answered prefix of the given order
        if i not in got:
            break
        out.append(got[i])
    return out


# ---- held-out monitor --------------------------------------------------------------------------------------
def monitor_metrics(
    items: Sequence[LabelledItem], completions: Sequence[str], prefix: str = ""
) -> dict[str, float]:
    """``monitor/format_rate``, ``monitor/refusal_harmful``, ``monitor/over_refusal`` (keys prefixed by
    phase)."""
    harm = [refusal_verifier(c) for it, c in zip(items, completions, strict=True) if it.harmful]
    ben = [refusal_verifier(c) for it, c in zip(items, completions, strict=True) if not it.harmful]
    rates = {"format_rate": float(np.mean([format_verifier(c) for c in completions])) if completions else 0.0}
    if harm:
        rates["refusal_harmful"] = float(np.mean(harm))
    if ben:
        rates["over_refusal"] = float(np.mean(ben))
    return {f"{prefix}monitor/{k}": v for k, v in rates.items()}


def same_verdict_for_all(metrics: dict[str, float], prefix: str = "") -> str | None:
    """'refuses' / 'answers' when the monitor batch gets one verdict for every prompt, harmful or benign
    (refusal rate 1 on both classes, or 0 on both): the policy has learned a bias, not a judgement of the
    request."""
    h, b = metrics.get(f"{prefix}monitor/refusal_harmful"), metrics.get(f"{prefix}monitor/over_refusal")
    if h is None or b is None:
        return None
    if h >= 1.0 and b >= 1.0:
        return "refuses"
    if h <= 0.0 and b <= 0.0:
        return "answers"
    return None


def monitor_callback(
    ctx: JobContext,
    items: Sequence[LabelledItem],
    tokenizer: Any,
    *,
    template: str,
    every: int,
    max_new_tokens: int,
    expect_format: bool,
    warn_after: int = 2,
    prefix: str = "",
) -> Any:
    """A TrainerCallback that every ``every`` steps answers the held-out monitor batch greedily with the
    current policy and emits ``monitor/*`` metrics plus two samples; warns when the format rate stays 0."""
    from transformers import TrainerCallback

    chats = [chat_for(it, template) for it in items]

    class MonitorCallback(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.zero_format = 0
            self.same_verdict = 0
            self.history: list[dict[str, float]] = []

        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
            step = state.global_step
            if not items or model is None or (step % every and step != state.max_steps):
                return
            outs = [o[0] for o in generate(model, tokenizer, chats, max_new_tokens=max_new_tokens)]
            m = monitor_metrics(items, outs, prefix)
            self.history.append({"step": step, **m})
            ctx.emit_metric(step, **m)
            for it, o in list(zip(items, outs, strict=True))[:: max(1, len(items) // 2)][:2]:
                ctx.emit_sample(f"[{'harmful' if it.harmful else 'benign'}] {it.prompt}", o, step)
            if expect_format:
                self.zero_format = self.zero_format + 1 if m[f"{prefix}monitor/format_rate"] == 0 else 0
                if self.zero_format == warn_after:
                    ctx.log(
                        f"WARNING: format rate 0 on the monitor batch for {warn_after} checks (step {step}): "
                        "the model does not follow the <safety_reasoning>/<answer> template, so V_f gives no "
                        "signal. Enable the warm start or shaped rewards, or use a model that follows "
                        "instructions."
                    )
                    ctx.emit_metric(step, **{"warning/format_stuck": 1.0})
            verdict = same_verdict_for_all(m, prefix)
            self.same_verdict = self.same_verdict + 1 if verdict else 0
            if verdict and self.same_verdict == warn_after:
                ctx.log(
                    f"WARNING: the policy {verdict} every monitor prompt, harmful and benign alike, for "
                    f"{warn_after} checks (step {step}): it has learned a bias, not a judgement of the "
                    "request. Common with a small model on minimal pairs (see docs/alignment.md, Results); "
                    "try more steps, a lower learning rate, the over-refusal penalty (CRAFT) or a larger "
                    "model."
                )
                ctx.emit_metric(step, **{"warning/same_verdict": 1.0})

    return MonitorCallback()


# ---- checkpoints -----------------------------------------------------------------------------------------
def checkpoint_phase(path: Path | None) -> str | None:
    """'warmstart' | 'grpo' | 'sft' from a checkpoint path (its parent folder), None without one."""
    if path is None:
        return None
    p = Path(path)
    for part in (p.parent.name, p.name, p.parent.parent.name):
        if part in ("warmstart", "grpo", "sft"):
            return part
    return None


def latest_checkpoint(folder: Path) -> Path | None:
    cks = sorted(Path(folder).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return cks[-1] if cks else None


def save_adapter(model: Any, path: Path) -> Path:
    """Save only the trained ``default`` LoRA adapter (not TRL's frozen ``ref`` copy)."""
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(path), selected_adapters=["default"])
    return path


def write_json(path: Path, obj: Any) -> Path:
    return atomic_write_bytes(path, json.dumps(obj, indent=2, default=str).encode())
