"""The model-load spinner says what really happens: the embedded model from the local cache, or its one-time
pull; a local folder; or a hub name."""

from __future__ import annotations

from core.capture import default_model


def test_message_follows_the_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(default_model, "is_default_model_ready", lambda: True)
    assert default_model.model_load_message("default").startswith(
        "Loading the embedded model from the local cache"
    )
    monkeypatch.setattr(default_model, "is_default_model_ready", lambda: False)
    first = default_model.model_load_message("default")
    assert first.startswith("First run: pulling the embedded model") and "once" in first
    assert default_model.model_load_message(str(tmp_path)) == f"Loading the model from the folder {tmp_path}…"
    assert "Hugging Face cache" in default_model.model_load_message("org/some-model")
