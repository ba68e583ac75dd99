"""The Steer page's text inputs, parsed: α lists and one-prompt-per-line boxes (pure, no model, no UI)."""

from __future__ import annotations

from dataclasses import dataclass

from core.capture.templates import build_messages
from core.capture.trajectory import Message
from core.errors import InputError
from core.steer.interventions import check_alpha


def parse_alphas(text: str) -> list[float]:
    """``"0, 1, 2 4"`` -> ``[0.0, 1.0, 2.0, 4.0]``: numbers separated by commas and/or whitespace.
    A token that is not a number, or is NaN / infinite / beyond ±1e6, raises ``InputError`` (a
    ``ValueError``, shown to the user as a message)."""
    out = []
    for tok in text.replace(",", " ").split():
        try:
            value = float(tok)
        except ValueError:
            raise InputError(f"α value {tok!r} is not a number; type numbers like 0, 1, 2.5.") from None
        out.append(check_alpha(value))
    return out


def prompt_lines(text: str) -> list[str]:
    """The non-empty lines of a text box, stripped."""
    return [x.strip() for x in text.splitlines() if x.strip()]


@dataclass(frozen=True)
class SweepInputs:
    chats: list[list[Message]]  # prompts whose refusal rate is measured (plain template)
    harmless: list[list[Message]] | None  # prompts for the KL estimate; None when none were given
    alphas: list[float]


def sweep_inputs(prompts_text: str, harmless_text: str, alphas_text: str) -> SweepInputs:
    """The sweep form's three boxes as chats and α values; ``ValueError`` when a prompt or an α is missing."""
    chats = [build_messages(x) for x in prompt_lines(prompts_text)]
    harmless = [build_messages(x) for x in prompt_lines(harmless_text)] or None
    alphas = parse_alphas(alphas_text)
    if not chats or not alphas:
        raise ValueError("type at least one prompt and one α value")
    return SweepInputs(chats, harmless, alphas)
