"""Bad numbers on the command line: exit 2 with one line naming the option, before any model loads."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from core.cli.main import app

runner = CliRunner()
NO_MODEL = ["-m", "/nonexistent/model"]  # loading it would fail differently: proves the check came first


def _one_line_error(res, *needles: str) -> None:
    assert res.exit_code == 2, res.output
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert "Traceback" not in res.output and "Loading model" not in res.output
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.parametrize("value", ["nan", "inf", "-0.5", "1.5"])
def test_probe_score_threshold(rs_home, value):
    res = runner.invoke(
        app, ["probe", "score", "toy", "hello", "--generate", "4", "--threshold", value, *NO_MODEL]
    )
    _one_line_error(res, "threshold = ", "0 ≤ threshold ≤ 1")


def test_probe_score_negative_generate(rs_home):
    res = runner.invoke(app, ["probe", "score", "toy", "hello", "--generate", "-1", *NO_MODEL])
    _one_line_error(res, "'--generate'", "-1 is out of range", "0 to 4096")


@pytest.mark.parametrize("alpha", ["nan", "inf", "-inf", "1e9"])
def test_steer_alpha(rs_home, tmp_path, alpha):
    vec = tmp_path / "v.npy"
    np.save(vec, np.ones(8, dtype=np.float32))
    res = runner.invoke(app, ["steer", "hello", "--vector", str(vec), "--alpha", alpha, *NO_MODEL])
    _one_line_error(res, "alpha = ", "|alpha| ≤ 1e+06")


@pytest.mark.parametrize("value, needle", [(3e38, "magnitude 3e+38"), (np.inf, "NaN or infinite")])
def test_steer_vector_file_with_absurd_values(rs_home, tmp_path, value, needle):
    vec = tmp_path / "big.npy"
    np.save(vec, np.full(8, value, dtype=np.float32))
    res = runner.invoke(app, ["steer", "hello", "--vector", str(vec), *NO_MODEL])
    _one_line_error(res, "Steering vector 'big'", needle)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--max-new-tokens", "-1"], "'--max-new-tokens': -1 is out of range"),
        (["--sample", "--temperature", "0"], "temperature = 0"),
        (["--temperature", "nan"], "temperature = nan"),
        (["--seed", str(2**70)], "seed = 1180591620717411303424"),
        (["--batch-size", "0"], "'--batch-size': 0 is out of range"),
    ],
)
def test_trace_generation_numbers(rs_home, args, needle):
    _one_line_error(runner.invoke(app, ["trace", "hello", *args, *NO_MODEL]), needle)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--seed", str(2**70)], "seed = 1180591620717411303424"),
        (["--batch-size", "0"], "'--batch-size': 0 is out of range"),
        (["--max-empty-share", "nan"], "max_empty_share = nan"),
    ],
)
def test_eval_options(rs_home, tmp_path, args, needle):
    res = runner.invoke(app, ["eval", "--out", str(tmp_path / "a"), "--subject", "/nonexistent", *args])
    _one_line_error(res, needle)
