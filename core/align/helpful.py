"""AlphaAlign's helpfulness reward (arXiv 2507.14987, Eq. 6) from any Hugging Face sequence-classification
reward model.

For benign prompts: ``R_h = max((r - mean_group) / std_group, 0)`` when the answer is not a refusal, else 0;
the group is the n rollouts of one prompt. Harmful prompts get 0 (their reward is the safety reward alone).
The paper used an 8B reward model (FsfairX-LLaMA3-RM); offline, the default is the safety-only AlphaAlign-Zero
variant and this reward is used only when a local reward-model folder is configured.

The reward model reads ``prompt + response`` through **its own tokenizer** (rendered with its chat template
when it has one). A tokenizer that does not belong to the reward model (more tokens than its embedding has
rows) is refused with an error that says so, instead of silently scoring garbage.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.align.rewards import (
    RefusalJudge,
    as_text,
    check_finite,
    harmful_flags,
    helpfulness_values,
    refusal_verifier,
)
from core.errors import InputError


def check_reward_tokenizer(rm: Any, tokenizer: Any, name: str = "reward model") -> None:
    """Raise ``InputError`` when ``tokenizer`` cannot be the reward model's tokenizer."""
    vocab = int(getattr(rm.config, "vocab_size", 0) or rm.get_input_embeddings().weight.shape[0])
    n_tok = len(tokenizer)
    if n_tok > vocab:
        raise InputError(
            f"The tokenizer given for {name} has {n_tok} tokens but the reward model's embedding has only "
            f"{vocab}: it is not the tokenizer this reward model was trained with (its ids would index past "
            "the embedding). Set reward_tokenizer to the reward model's own tokenizer folder (usually the "
            "reward model folder)."
        )
    if getattr(rm.config, "num_labels", 1) < 1:
        raise InputError(
            f"{name} has no output label; use a sequence-classification model with num_labels=1."
        )


def load_reward_model(
    path: str, tokenizer_path: str | None = None, *, device: str = "cpu"
) -> tuple[Any, Any]:
    """(model, tokenizer) of a local sequence-classification reward model, checked for a matching
    tokenizer."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    p = Path(path).expanduser()
    if not (p / "config.json").is_file():
        raise InputError(
            f"Reward model folder {p} has no config.json: point reward_model at a local folder saved "
            "with save_pretrained() (there is no model hub access here)."
        )
    try:
        rm = AutoModelForSequenceClassification.from_pretrained(str(p), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"Could not load reward model {p} as a sequence-classification model: {exc}"
        ) from exc
    tok_src = Path(tokenizer_path).expanduser() if tokenizer_path else p
    try:
        tok = AutoTokenizer.from_pretrained(str(tok_src), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"No tokenizer for the reward model at {tok_src} ({str(exc).splitlines()[0][:160]}). Save the "
            "reward model's tokenizer next to it or set reward_tokenizer."
        ) from exc
    check_reward_tokenizer(rm, tok, name=f"reward model {p.name}")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return rm.to(device).eval(), tok


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, list):
        users = [m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return users[-1] if users else ""
    return str(prompt)


class HelpfulnessReward:
    """``R_h`` as a TRL reward function (named ``helpfulness``); logs ``align/rm_score`` and ``align/R_h``."""

    __name__ = "helpfulness"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        refusal_judge: RefusalJudge | None = None,
        batch_size: int = 8,
        max_length: int = 512,
    ) -> None:
        check_reward_tokenizer(model, tokenizer)
        self.model, self.tokenizer = model, tokenizer
        self.judge, self.batch_size, self.max_length = refusal_judge, batch_size, max_length

    @classmethod
    def from_path(cls, path: str, tokenizer_path: str | None = None, **kwargs: Any) -> HelpfulnessReward:
        rm, tok = load_reward_model(path, tokenizer_path)
        return cls(rm, tok, **kwargs)

    def _render(self, prompt: str, response: str) -> str:
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            chat = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
            return str(tok.apply_chat_template(chat, tokenize=False))
        return f"{prompt}\n\n{response}"

    def scores(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """Raw reward-model scores (logit 0) of prompt/response pairs."""
        import torch

        texts = [self._render(p, r) for p, r in zip(prompts, responses, strict=True)]
        out: list[float] = []
        device = next(self.model.parameters()).device
        with torch.no_grad():
            for s in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(
                    texts[s : s + self.batch_size],
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    add_special_tokens=False,
                )
                logits = self.model(**{k: v.to(device) for k, v in enc.items()}).logits
                out.extend(float(x) for x in logits[:, 0].float().cpu())
        return np.asarray(check_finite("reward model score", out), dtype=np.float64)

    def __call__(
        self, completions: list[Any], prompts: list[Any] | None = None, **kwargs: Any
    ) -> list[float]:
        texts = [as_text(c) for c in completions]
        harmful = harmful_flags(len(texts), kwargs)
        ptexts = [_prompt_text(p) for p in (prompts or [""] * len(texts))]
        refused = np.array([refusal_verifier(t, self.judge) for t in texts])
        need = [
            i for i, h in enumerate(harmful) if not h
        ]  # every benign rollout: the group statistics use all n
        raw = np.zeros(len(texts))
        if need:
            raw[need] = self.scores([ptexts[i] for i in need], [texts[i] for i in need])
        values = helpfulness_values(raw, ptexts, harmful, refused)
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and need:
            log_metric("align/rm_score", float(raw[need].mean()))
            log_metric("align/R_h", float(values.mean()))
        return check_finite(self.__name__, values)
