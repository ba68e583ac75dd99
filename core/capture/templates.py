"""Prompt templates: how a user prompt becomes a chat for the model.

``alphaalign`` asks for the two-stage format of AlphaAlign (arXiv 2507.14987): safety reasoning in
``<safety_reasoning>`` tags, then the answer in ``<answer>`` tags; ``think`` asks for ``<think>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import InputError

Message = dict[str, str]


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    label: str
    system: str | None  # None = the model's own default system prompt
    description: str


ALPHAALIGN_SYSTEM = (
    "You are a helpful and safe assistant. First think about whether the request is safe inside "
    "<safety_reasoning> and </safety_reasoning> tags. Then give your reply inside <answer> and </answer> "
    "tags. If the request is harmful, the answer is a short refusal that says why; "
    "otherwise answer helpfully."
)
THINK_SYSTEM = (
    "You are a helpful assistant. Think step by step inside <think> and </think> tags, "
    "then give your final answer after the closing tag."
)

TEMPLATES: dict[str, PromptTemplate] = {
    "plain": PromptTemplate(
        "plain", "Plain chat", None, "The model's own chat template, no extra instructions."
    ),
    "alphaalign": PromptTemplate(
        "alphaalign",
        "AlphaAlign <safety_reasoning>/<answer>",
        ALPHAALIGN_SYSTEM,
        "Reason about safety first, then answer (AlphaAlign's format).",
    ),
    "think": PromptTemplate(
        "think", "<think> reasoning", THINK_SYSTEM, "Step-by-step reasoning in <think> tags."
    ),
}


def build_messages(
    prompt: str, *, template: str = "plain", system: str | None = None, history: list[Message] | None = None
) -> list[Message]:
    """Chat messages for ``prompt``; an explicit ``system`` overrides the template's system prompt."""
    if template not in TEMPLATES:
        raise InputError(f"Unknown template {template!r}; choose one of {sorted(TEMPLATES)}.")
    if not prompt or not prompt.strip():
        raise InputError("The prompt is empty: type a request for the model to answer.")
    sys_text = system if system is not None and system.strip() else TEMPLATES[template].system
    messages: list[Message] = []
    if sys_text:
        messages.append({"role": "system", "content": sys_text})
    messages.extend(history or [])
    messages.append({"role": "user", "content": prompt})
    return messages
