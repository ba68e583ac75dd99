"""The Trace page's ``?key=`` URL parameter is validated before it reaches the store."""

from __future__ import annotations

import pytest

from app.helpers_trace import key_from_query
from core.paths import UnsafePathError


@pytest.mark.parametrize("value", [None, ""])
def test_absent_key_means_nothing_opened(value) -> None:
    assert key_from_query(value) is None


def test_a_content_hash_passes() -> None:
    assert key_from_query("0123456789abcdef" * 2) == "0123456789abcdef" * 2


@pytest.mark.parametrize(
    "value", ["../../x", "/etc/passwd", "..", "ab\x00" + "0" * 29, "0" * 31, "G" * 32, ["a", "b"], 12]
)
def test_hostile_keys_are_refused_with_a_message(value) -> None:
    with pytest.raises(UnsafePathError, match=r"key in the URL \(\?key=\).*32 lowercase hex"):
        key_from_query(value)
