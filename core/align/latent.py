"""CRAFT's reward with its latent part (arXiv 2603.17305, phase 2): a TRL reward function that runs the
**current policy** on its own rollouts.

TRL reward functions only see text (``prompts``, ``completions``, ``completion_ids``), never the policy's
hidden states. CRAFT's ``R_ls`` and ``R_cons`` need ``z``: the contrastive head's embedding of the *policy's*
pooled hidden state of the rollout. So ``CraftReward`` holds a reference to the policy (``bind(model)`` after
the trainer is built -- the LoRA-wrapped model that is being trained) and, for every batch of rollouts, does
one extra ``no_grad`` forward pass of prompt + completion through it with a hook on the chosen decoder layer.
The cost is reported separately by ``benchmarks/bench_grpo.py``.

Pooling (must match how the head was trained, see ``core.probes.features``): ``reasoning`` = mean over the
``<safety_reasoning>`` span (the completion when there is none), ``completion`` = mean over the completion,
``mean_all`` = mean over prompt + completion. Layer index convention: 0 = embeddings, i = output of decoder
layer i-1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from core.align.rewards import (
    RefusalJudge,
    RewardError,
    TextSafetyJudge,
    as_text,
    check_finite,
    check_judge_output,
    consistency_reward,
    craft_total,
    harmful_flags,
    keyword_p_safe,
    latent_safety_reward,
    refusal_verifier,
    text_reward,
)
from core.capture.batching import length_batches
from core.capture.models import _get_path, find_layers_path
from core.capture.trajectory import find_spans
from core.errors import InputError
from core.probes.contrastive import ContrastiveProbe

POOLS = ("reasoning", "completion", "mean_all")


class _StopForward(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by the capture hook once the wanted layer has run (nothing above it is computed)."""


def _decoder_layers(model: Any) -> list[Any]:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return list(_get_path(base, find_layers_path(base)))


def _span(tokens: list[str], n_prompt: int, pool: str) -> tuple[int, int]:
    n = len(tokens)
    if pool == "mean_all" or n <= n_prompt:
        return 0, n
    if pool == "reasoning":
        for s in find_spans(tokens, n_prompt):
            if s.name == "reasoning" and s.end > s.start:
                return s.start, s.end
    return n_prompt, n


def prompt_token_ids(tokenizer: Any, prompt: Any) -> list[int]:
    """Token ids of a TRL prompt: a chat (list of messages, rendered with the generation prompt) or text."""
    if isinstance(prompt, list):
        out = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)
        ids = out["input_ids"] if hasattr(out, "keys") else out
        return [int(i) for i in ids]
    return [int(i) for i in tokenizer(str(prompt), add_special_tokens=False)["input_ids"]]


def pooled_policy_states(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Any],
    completion_ids: Sequence[Sequence[int]],
    *,
    layer: int,
    pool: str = "reasoning",
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray | None:
    """``[n, d]`` float32: the policy's residual stream at ``layer`` pooled over each rollout's span.

    ``progress(done, total)`` ticks after each batch; ``should_stop()`` is checked before each batch and ends
    the capture early with ``None`` (a job being cancelled: phase 1 of CRAFT captures hundreds of traces)."""
    import torch

    if pool not in POOLS:
        raise InputError(f"Unknown pooling {pool!r} for the latent reward; choose one of {list(POOLS)}.")
    layers = _decoder_layers(model)
    if not 0 <= layer <= len(layers):
        raise InputError(
            f"Layer {layer} does not exist: the policy has layers 0..{len(layers)} (0 = embeddings)."
        )
    rows, spans = [], []
    for p, c in zip(prompts, completion_ids, strict=True):
        pids = prompt_token_ids(tokenizer, p)
        cids = [int(i) for i in c]
        ids = pids + cids
        toks = [tokenizer.decode([i]) for i in ids]
        rows.append(ids)
        spans.append(_span(toks, len(pids), pool))
    captured: dict[str, Any] = {}

    def hook(_m: Any, _i: Any, out: Any) -> None:
        captured["h"] = out[0] if isinstance(out, tuple) else out
        raise _StopForward  # the layers above and the LM head are not needed: end the forward here

    target = model.get_input_embeddings() if layer == 0 else layers[layer - 1]
    handle = target.register_forward_hook(hook)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = next(model.parameters()).device
    pooled: list[np.ndarray | None] = [None] * len(rows)
    was_training = model.training
    model.eval()
    done = 0
    try:
        with torch.no_grad():
            # sorted by length so batches pad little; results go back in the callers' order
            for group in length_batches([len(r) for r in rows], batch_size=batch_size):
                if should_stop is not None and should_stop():
                    return None
                batch = [rows[k] for k in group]
                width = max(len(r) for r in batch)
                ids = torch.full(
                    (len(batch), width), pad, dtype=torch.long
                )  # right padding: positions stay 0..n-1
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for i, r in enumerate(batch):
                    ids[i, : len(r)] = torch.tensor(r)
                    mask[i, : len(r)] = 1
                try:
                    model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False)
                except _StopForward:
                    pass
                h = captured.pop("h").float()  # [b, width, d]
                for i, k in enumerate(group):
                    a, b = spans[k]
                    pooled[k] = h[i, a:b].mean(0).cpu().numpy()
                done += len(group)
                if progress is not None:
                    progress(done, len(rows))
    finally:
        handle.remove()
        model.train(was_training)
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack(pooled).astype(np.float32)  # type: ignore[arg-type]  # every row pooled


class CraftReward:
    """CRAFT's ``R = w_lat R_ls + w_txt R_txt + w_cons R_cons`` as one TRL reward function (named ``craft``).

    ``head`` is a ``core.probes.contrastive.ContrastiveProbe`` trained (phase 1) on this model's states at
    ``head.layer``; ``text_judge(texts, harmful) -> P(safe | text)`` defaults to the keyword refusal judge.
    ``over_refusal_penalty`` (off by default) subtracts ``penalty * V_r`` on benign prompts.
    Logs ``craft/R_ls``, ``craft/R_txt``, ``craft/R_cons``, ``craft/cos_safe``, ``craft/p_safe_head``,
    ``craft/p_safe_text`` and refusal rates through TRL's ``log_metric``.
    """

    __name__ = "craft"

    def __init__(
        self,
        head: ContrastiveProbe,
        tokenizer: Any,
        *,
        pool: str = "reasoning",
        w_lat: float = 0.5,
        w_txt: float = 0.4,
        w_cons: float = 0.2,
        alpha: float = 1.0,
        beta: float = 1.0,
        gamma: float = 0.5,
        text_judge: TextSafetyJudge | None = None,
        shaped: bool = True,
        over_refusal_penalty: float = 0.0,
        refusal_judge: RefusalJudge | None = None,
    ) -> None:
        self.head, self.tokenizer, self.pool = head, tokenizer, pool
        self.w = {"w_lat": w_lat, "w_txt": w_txt, "w_cons": w_cons}
        self.abg = {"alpha": alpha, "beta": beta, "gamma": gamma}
        self.text_judge = text_judge
        self.shaped, self.penalty, self.refusal_judge = shaped, over_refusal_penalty, refusal_judge
        self.model: Any = None
        self.last: dict[str, np.ndarray] = {}

    def bind(self, model: Any) -> CraftReward:
        """Point the latent forward pass at the policy being trained (``trainer.model``)."""
        self.model = model
        return self

    def components(
        self,
        prompts: Sequence[Any],
        texts: Sequence[str],
        completion_ids: Sequence[Sequence[int]],
        harmful: Sequence[bool],
    ) -> dict[str, np.ndarray]:
        if self.model is None:
            raise RewardError(
                "CraftReward is not bound to a policy: call reward.bind(trainer.model) after building "
                "the trainer (the latent reward needs the current policy's hidden states)."
            )
        h = pooled_policy_states(
            self.model, self.tokenizer, prompts, completion_ids, layer=int(self.head.layer), pool=self.pool
        )
        z = self.head.embed(h)
        cos = self.head.prototype_cosines(z)  # [n, 3] (safe, unsafe, rethink)
        p_head = np.asarray(self.head.p_safe(h), dtype=np.float64)
        if self.text_judge is not None:
            p_text = check_judge_output(self.text_judge(list(texts), list(harmful)), len(texts))
        else:
            p_text = keyword_p_safe(texts, harmful, shaped=self.shaped, judge=self.refusal_judge)
        r_ls = latent_safety_reward(cos, **self.abg)
        r_txt = text_reward(p_text)
        r_cons = consistency_reward(p_head, p_text)
        total = craft_total(r_ls, r_txt, r_cons, **self.w)
        refused = np.array([refusal_verifier(t, self.refusal_judge) for t in texts])
        if self.penalty:
            total = total - self.penalty * np.where(np.asarray(harmful, dtype=bool), 0.0, refused)
        return {
            "reward": total,
            "R_ls": r_ls,
            "R_txt": r_txt,
            "R_cons": r_cons,
            "cos_safe": cos[:, 0],
            "cos_unsafe": cos[:, 1],
            "p_safe_head": p_head,
            "p_safe_text": p_text,
            "refused": refused,
        }

    def __call__(
        self,
        completions: list[Any],
        prompts: list[Any] | None = None,
        completion_ids: list[list[int]] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        texts = [as_text(c) for c in completions]
        harmful = harmful_flags(len(texts), kwargs)
        if prompts is None or completion_ids is None:
            raise RewardError("CraftReward needs TRL's 'prompts' and 'completion_ids' arguments.")
        comp = self.components(prompts, texts, completion_ids, harmful)
        self.last = comp
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            for k in ("R_ls", "R_txt", "R_cons", "cos_safe", "cos_unsafe", "p_safe_head", "p_safe_text"):
                log_metric(f"craft/{k}", float(np.mean(comp[k])))
            hm = np.asarray(harmful, dtype=bool)
            if hm.any():
                log_metric("align/refusal_harmful", float(comp["refused"][hm].mean()))
            if (~hm).any():
                log_metric("align/refusal_benign", float(comp["refused"][~hm].mean()))
        for k in ("R_ls", "R_txt", "R_cons"):
            check_finite(f"craft/{k}", comp[k])
        return check_finite(self.__name__, comp["reward"])
