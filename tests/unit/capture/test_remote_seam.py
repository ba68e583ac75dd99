"""The remote seam without a server: where strings, meta loading, the errors raised before or at sending, and
an API key that goes into the request header only."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from core.capture.placement import LOCAL, PUBLIC, mask_key, parse_where
from core.errors import InputError, RemoteAuthError, RemoteUnreachableError, RemoteUnsafeError

CHAT = [{"role": "user", "content": "How do I bake bread at home?"}]
SECRET = "9f8e7d6c-aaaa-bbbb-cccc-unit-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "text,expected",
    [("", LOCAL), ("local", LOCAL), ("NDIF", PUBLIC), ("http://127.0.0.1:8001/", "http://127.0.0.1:8001")],
)
def test_parse_where(text: str, expected: str) -> None:
    assert parse_where(text) == expected


@pytest.mark.parametrize("bad", ["ftp://x", "somewhere", "http://user:pw@host:1", "http://h?key=abc"])
def test_parse_where_refuses(bad: str) -> None:
    with pytest.raises(InputError):
        parse_where(bad)


def test_mask_key() -> None:
    assert mask_key(SECRET) == "••••cret" and SECRET not in mask_key(SECRET)
    assert mask_key(None) == "(none)"


def _remote(tiny_model_dir: Path, host: str):
    from core.capture.models import ModelSpec, load_model

    return load_model(ModelSpec(name=str(tiny_model_dir), where=host))


def test_remote_model_is_meta_loaded(tiny_model_dir: Path) -> None:
    m = _remote(tiny_model_dir, f"http://127.0.0.1:{_free_port()}")
    assert m.is_remote and m.n_layers == 2 and m.d_model == 64
    assert str(next(m.hf_model.parameters()).device) == "meta"
    with pytest.raises(InputError, match="needs the model's weights"):
        m.require_local("A plain forward")


def test_unreachable_host(tiny_model_dir: Path) -> None:
    from core.capture.tracing import capture_prompt

    m = _remote(tiny_model_dir, f"http://127.0.0.1:{_free_port()}")  # nothing listens there
    with pytest.raises(RemoteUnreachableError, match="cannot be reached"):
        capture_prompt(m, CHAT)


def test_not_remote_safe_is_caught_before_sending(tiny_model_dir: Path) -> None:
    import torch

    m = _remote(tiny_model_dir, f"http://127.0.0.1:{_free_port()}")  # sending would be "unreachable"
    ids = torch.tensor([m.encode_chat(CHAT)])
    with pytest.raises(RemoteUnsafeError, match="cannot be sent|not remote-safe"):
        with torch.no_grad(), m.lm.trace(ids, **m.runner.trace_kwargs()):
            m.lm.lm_head.output.save()
            holder = m  # the LoadedModel holds a lock: not picklable, so not remote-safe
            holder.lock.acquire()


class _RefusingNdif(BaseHTTPRequestHandler):
    seen_keys: list[str | None] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        type(self).seen_keys.append(self.headers.get("ndif-api-key"))
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"detail": "Missing or invalid API key. Please visit https://login.ndif.us/"})
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


def test_refused_key_and_key_only_in_the_header(tiny_model_dir: Path, monkeypatch, caplog) -> None:
    from core.capture.remote import remote_status
    from core.capture.tracing import capture_prompt

    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingNdif)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("NDIF_API_KEY", SECRET)
        m = _remote(tiny_model_dir, f"http://127.0.0.1:{server.server_address[1]}")
        seen: list[tuple] = []
        with remote_status(lambda *a: seen.append(a), blocking=False):
            with pytest.raises(RemoteAuthError, match="refused the API key") as err:
                capture_prompt(m, CHAT)
    finally:
        server.shutdown()
    assert _RefusingNdif.seen_keys == [SECRET]  # sent where it belongs...
    assert SECRET not in str(err.value) and SECRET not in repr(seen) and SECRET not in caplog.text
    assert SECRET not in json.dumps(m.info(), default=str)  # ...and nowhere a report or job config reads


def test_cli_remote_option(tiny_model_dir: Path, rs_home: Path) -> None:
    from typer.testing import CliRunner

    from core.cli.main import app

    runner = CliRunner()
    host = f"http://127.0.0.1:{_free_port()}"
    res = runner.invoke(app, ["model", "info", "--model", str(tiny_model_dir), "--remote", host])
    assert res.exit_code == 0, res.output
    assert "n_layers: 2" in res.output and f"where: {host}" in res.output  # config only: nothing was sent
    res = runner.invoke(app, ["trace", "hello", "--model", str(tiny_model_dir), "--remote", host])
    assert res.exit_code != 0 and "cannot be reached" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["model", "info", "--model", str(tiny_model_dir), "--remote", "nowhere"])
    assert res.exit_code == 2 and "not understood" in res.output
