"""Ray backend edge cases that need no cluster: event-line parsing, missing Ray, unreachable address."""

from __future__ import annotations

import json
import socket
import sys

import pytest

from core.errors import InputError, ReasonScopeError
from core.jobs import JobStore, get_backend
from core.jobs.context import EVENT_PREFIX, StdoutSink
from core.jobs.ray_backend import parse_event_lines


def test_event_lines_round_trip_through_logs(tmp_path):
    path = tmp_path / "log.txt"
    with path.open("w") as f:
        sink = StdoutSink(f)
        f.write("some library warning\n")
        sink.emit("metric", {"step": 1, "values": {"loss": 0.5}})
        f.write(
            "(pid=12) " + EVENT_PREFIX + json.dumps({"i": 2, "kind": "log", "data": {"line": "x"}}) + "\n"
        )
        f.write(EVENT_PREFIX + '{"i": 3, "kind": "log", "da')  # torn: still being written
    recs = parse_event_lines(path.read_text())
    assert [(r["i"], r["kind"]) for r in recs] == [(1, "metric"), (2, "log")]
    assert recs[0]["data"] == {"step": 1, "values": {"loss": 0.5}}


def test_missing_ray_says_how_to_install(rs_home, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    monkeypatch.setitem(sys.modules, "ray.job_submission", None)
    with pytest.raises(InputError, match=r"reasonscope\[ray\]"):
        get_backend("ray").submit("demo.probe_sweep", {"steps": 2})
    assert JobStore().list() == []


def test_unreachable_ray_address_is_a_clear_error(rs_home, monkeypatch):
    pytest.importorskip("ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"http://127.0.0.1:{port}")
    with pytest.raises(ReasonScopeError, match="Cannot reach the Ray cluster.*ray start --head"):
        get_backend("ray").submit("demo.probe_sweep", {"steps": 3})
    assert JobStore().list() == []
    with pytest.raises(InputError, match="Unknown jobs backend"):
        get_backend("slurm")
