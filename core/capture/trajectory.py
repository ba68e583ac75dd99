"""The ``Trajectory`` record: what every view, probe, reward and audit consumes.

No torch (numpy, stdlib and ``core.checks``), so analysis code can use it without importing torch.
Layer index convention (everywhere in ReasonScope): 0 is the embedding output,
``i`` (1..n_layers) is the output of decoder layer ``i-1`` -- the residual stream
*before* the final norm.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from core import checks
from core.errors import InputError

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": str}
SpanName = Literal["prompt", "completion", "reasoning", "answer"]


@dataclass(frozen=True)
class Span:
    """Token range ``[start, end)`` into the trajectory's tokens."""

    name: str
    start: int
    end: int

    def __len__(self) -> int:
        return max(0, self.end - self.start)


MAX_NEW_TOKENS = 100_000  # a sanity bound; the model's context window is checked when generating


@dataclass(frozen=True)
class GenerationSettings:
    """How to decode. Every number is checked here (``InputError`` naming the field and its range), so a bad
    option is refused before a model is loaded. ``max_new_tokens = 0`` means prompt only."""

    max_new_tokens: int = 64
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        checks.whole("max_new_tokens", self.max_new_tokens, low=0, high=MAX_NEW_TOKENS)
        if not isinstance(self.do_sample, bool | np.bool_):
            raise InputError(f"do_sample = {self.do_sample!r} must be true or false.")
        checks.real(
            "temperature",
            self.temperature,
            low=0.0,
            high=100.0,
            low_open=True,
            hint="For deterministic output use greedy decoding (sampling off) instead of temperature 0.",
        )
        checks.real("top_p", self.top_p, low=0.0, high=1.0, low_open=True)
        checks.seed("seed", self.seed)

    def to_generate_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample}
        if self.do_sample:
            kw.update(temperature=self.temperature, top_p=self.top_p)
        return kw


@dataclass(kw_only=True)
class Trajectory:
    """Hidden states of every captured layer at every captured token of prompt + completion.

    ``hidden`` has shape ``[len(layers), n_tokens, d_model]``; with ``layers`` = all, that is
    ``[n_layers + 1, n_tokens, d_model]``.
    """

    model_fingerprint: str
    model_name: str
    messages: list[Message]
    settings: GenerationSettings
    token_ids: np.ndarray  # [n_tokens] int64
    tokens: list[str]  # decoded token strings, same length as token_ids
    n_prompt_tokens: int
    completion: str
    spans: list[Span]
    hidden: np.ndarray  # [len(layers), n_tokens, d_model]
    layers: tuple[int, ...]
    template: str = "plain"
    meta: dict[str, Any] = field(default_factory=dict)

    # ---- derived -------------------------------------------------------------------------------
    @property
    def key(self) -> str:
        return trajectory_key(
            self.model_fingerprint, self.messages, self.settings, self.template, self.layers
        )

    @property
    def n_tokens(self) -> int:
        return int(self.token_ids.shape[0])

    @property
    def d_model(self) -> int:
        return int(self.hidden.shape[-1])

    @property
    def prompt_text(self) -> str:
        users = [m["content"] for m in self.messages if m.get("role") == "user"]
        return users[-1] if users else ""

    def span(self, name: str) -> Span | None:
        for s in self.spans:
            if s.name == name:
                return s
        return None

    def layer(self, layer: int) -> np.ndarray:
        """States of one layer, ``[n_tokens, d_model]``; raises with the available layers if missing."""
        if layer not in self.layers:
            raise KeyError(f"layer {layer} was not captured; this trajectory has layers {list(self.layers)}")
        return self.hidden[self.layers.index(layer)]

    def metadata_json(self) -> dict[str, Any]:
        """Everything but the arrays, JSON-serialisable (the safetensors export's metadata)."""
        return {
            "model": self.model_name,
            "model_fingerprint": self.model_fingerprint,
            "messages": self.messages,
            "prompt": self.prompt_text,
            "completion": self.completion,
            "settings": asdict(self.settings),
            "tokens": self.tokens,
            "n_prompt_tokens": self.n_prompt_tokens,
            "spans": [asdict(s) for s in self.spans],
            "layers": list(self.layers),
            "template": self.template,
            "meta": self.meta,
        }


def trajectory_key(
    fingerprint: str,
    messages: list[Message],
    settings: GenerationSettings,
    template: str = "plain",
    layers: tuple[int, ...] | None = None,
) -> str:
    """Content address: same model + chat + generation settings (+ seed) + layers -> same key."""
    payload = json.dumps(
        {
            "fp": fingerprint,
            "messages": messages,
            "settings": asdict(settings),
            "template": template,
            "layers": list(layers) if layers is not None else None,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


# ---- spans -------------------------------------------------------------------------------------
_TAG_PAIRS = {
    "reasoning": [("<safety_reasoning>", "</safety_reasoning>"), ("<think>", "</think>")],
    "answer": [("<answer>", "</answer>")],
}


def find_spans(tokens: list[str], n_prompt_tokens: int) -> list[Span]:
    """Prompt / completion spans, plus reasoning / answer spans when the completion uses tags.

    Works on decoded token strings so it stays model-agnostic: character offsets of the tags in
    the completion text are mapped back to the tokens that cover them. An opened but unclosed
    tag (generation cut off) runs to the end of the completion.
    """
    n = len(tokens)
    spans = [Span("prompt", 0, n_prompt_tokens)]
    if n > n_prompt_tokens:
        spans.append(Span("completion", n_prompt_tokens, n))
    comp_tokens = tokens[n_prompt_tokens:]
    text = "".join(comp_tokens)
    # char offset -> token index (relative to the completion)
    starts = np.cumsum([0] + [len(t) for t in comp_tokens])

    def tok_at(char: int) -> int:
        return int(np.searchsorted(starts, char, side="right") - 1)

    for name, pairs in _TAG_PAIRS.items():
        for open_tag, close_tag in pairs:
            m = re.search(re.escape(open_tag), text)
            if not m:
                continue
            c0 = m.end()
            close = text.find(close_tag, c0)
            c1 = close if close >= 0 else len(text)
            t0 = min(tok_at(c0), len(comp_tokens))
            # the token holding the last content char, +1 for an exclusive end
            t1 = tok_at(max(c1 - 1, c0)) + 1 if c1 > c0 else t0
            spans.append(Span(name, n_prompt_tokens + t0, n_prompt_tokens + min(t1, len(comp_tokens))))
            break
    return spans
