"""Prompt length against the model's context window: refused before any generation, naming the prompt."""

from __future__ import annotations

import pytest

from core.capture.templates import build_messages
from core.capture.tracing import capture_batch
from core.capture.trajectory import GenerationSettings
from core.errors import LimitError


def test_batch_with_one_overlong_prompt_names_it_before_any_work(tiny_model) -> None:
    chats = [build_messages("short one"), build_messages("TOO LONG " + "word " * 600), build_messages("ok")]
    gen = capture_batch(tiny_model, chats, GenerationSettings(max_new_tokens=4), batch_size=2)
    with pytest.raises(
        LimitError, match=r"The prompt 'TOO LONG word .*\.\.\.' is \d+ tokens.*context window of 512"
    ):
        next(iter(gen))
