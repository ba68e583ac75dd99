"""The fuzz tier: property-based tests (hypothesis) of the CLI's option parsers, the error boundary's message
and the importers. Whatever text or bytes come in, the result is a value or a ``ReasonScopeError`` /
``InputError`` with a message -- never any other exception."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.cli.align import _parse_value
from core.cli.boundary import describe_failure, one_line
from core.cli.checks import (
    MAX_JSON_DEPTH,
    check_finite,
    non_finite_numbers,
    parse_key_values,
    parse_layer_list,
)
from core.cli.evals import _subject
from core.cli.jobs import parse_overrides
from core.data import open_db
from core.data.importer import import_table
from core.data.io import read_bytes
from core.data.mapping import build_mapping
from core.errors import InputError, ReasonScopeError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# text a hostile user types: anything printable, separators, NUL and other control characters, digits
hostile_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"), st.sampled_from(list("=,.-+[]{}\"' \x00\n\r\tnaNINFinf0123456789"))
    ),
    max_size=60,
)


# ---- option parsers ---------------------------------------------------------------------------------------
@FUZZ
@given(st.lists(hostile_text, max_size=4))
def test_set_overrides_are_a_dict_of_field_names_and_finite_values_or_an_input_error(items):
    try:
        out = parse_overrides(items)
    except InputError as exc:
        assert str(exc)
        return
    assert all(k.isidentifier() for k in out)
    assert not non_finite_numbers(list(out.values()))


@FUZZ
@given(st.text(alphabet="[]{}", min_size=MAX_JSON_DEPTH + 1, max_size=3000))
def test_deeply_nested_set_values_are_refused_not_a_recursion_error(raw):
    try:
        parse_key_values([f"seed={raw}"])
    except InputError:
        pass


@FUZZ
@given(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True), st.integers(), max_size=4))
def test_well_formed_set_overrides_round_trip(values):
    assert parse_overrides([f"{k}={v}" for k, v in values.items()]) == values


@FUZZ
@given(hostile_text)
def test_layer_lists_are_all_or_non_negative_indices_or_an_input_error(spec):
    try:
        out = parse_layer_list(spec)
    except InputError as exc:
        assert "--layers" in str(exc) and repr(spec) in str(exc)
        return
    assert out is None or (out and all(isinstance(x, int) and x >= 0 for x in out))
    assert out is None or len(set(out)) == len(out)


@FUZZ
@given(st.lists(st.integers(0, 500), min_size=1, max_size=8))
def test_well_formed_layer_lists_round_trip(layers):
    assert parse_layer_list(",".join(map(str, layers))) == list(dict.fromkeys(layers))


@FUZZ
@given(hostile_text)
def test_sweep_values_are_finite_or_an_input_error(text):
    try:
        v = _parse_value(text)
    except InputError:
        return
    assert not (isinstance(v, float) and not math.isfinite(v))


@FUZZ
@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(-10, 0), st.floats(0, 10))
def test_check_finite_accepts_exactly_the_finite_values_in_range(x, lo, hi):
    inside = math.isfinite(x) and lo <= x <= hi
    if inside:
        assert check_finite("--x", x, low=lo, high=hi) == x
    else:
        with pytest.raises(InputError, match="--x must be a finite number"):
            check_finite("--x", x, low=lo, high=hi)


@FUZZ
@given(
    st.lists(hostile_text, max_size=3), st.lists(hostile_text, max_size=3), st.lists(hostile_text, max_size=3)
)
def test_import_column_mappings_parse_or_raise_input_error(maps, sets, label_maps):
    try:
        build_mapping(None, maps, sets, label_maps)
    except InputError:
        pass


@FUZZ
@given(hostile_text)
def test_eval_subjects_parse_or_raise_input_error(text):
    try:
        _subject(text, "plain", "cpu")
    except InputError:
        pass


# ---- the boundary's message ----------------------------------------------------------------------------
@FUZZ
@given(hostile_text, st.sampled_from([ValueError, KeyError, RuntimeError, InputError, OSError, TypeError]))
def test_every_failure_is_described_in_one_line(msg, kind):
    line, code = describe_failure(kind(msg))
    assert "\n" not in line and "\r" not in line and line.strip()
    assert code in (1, 2)
    assert line.startswith(("Error: ", "internal error: "))


@FUZZ
@given(st.text(max_size=2000))
def test_one_line_has_no_line_breaks_and_is_bounded(text):
    out = one_line(text, limit=300)
    assert len(out) <= 300 and not any(c in out for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


# ---- importers -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_db(tmp_path_factory):
    db = open_db(f"sqlite:///{Path(tmp_path_factory.mktemp('fuzzdb')) / 'fuzz.db'}")
    yield db
    db.close()


CSV_ALPHABET = st.sampled_from(list("abc,;\"'\t\n\r =\\\x00é") + ["prompt", "label", "id", "safe", "unsafe"])
JSONL_ALPHABET = st.sampled_from(
    list('{}[]:,"\n\\ 0123456789.-eE') + ["prompt", "label", "null", "true", "NaN"]
)


def _import_or_refuse(db, data: bytes, fmt: str) -> None:
    try:
        table = read_bytes(data, f"fuzz.{fmt}", fmt=fmt)
        import_table(db, table, "fuzz", annotator="fuzz", on_error="skip", dry_run=True)
    except ReasonScopeError as exc:
        assert str(exc)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=400), st.sampled_from(["jsonl", "csv", "tsv"]))
def test_arbitrary_bytes_import_or_raise_a_reasonscope_error(fuzz_db, data, fmt):
    _import_or_refuse(fuzz_db, data, fmt)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(CSV_ALPHABET, max_size=80).map("".join), st.sampled_from(["csv", "tsv"]))
def test_csv_like_text_imports_or_raises_a_reasonscope_error(fuzz_db, text, fmt):
    _import_or_refuse(fuzz_db, text.encode("utf-8"), fmt)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(JSONL_ALPHABET, max_size=80).map("".join))
def test_jsonl_like_text_imports_or_raises_a_reasonscope_error(fuzz_db, text):
    _import_or_refuse(fuzz_db, text.encode("utf-8"), "jsonl")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.fixed_dictionaries(
            {"prompt": st.one_of(st.text(max_size=20), st.integers(), st.none(), st.floats())},
            optional={
                "label": st.one_of(
                    st.sampled_from(["safe", "unsafe", "rethink", "", "maybe"]), st.integers()
                ),
                "id": st.one_of(st.text(max_size=8), st.integers(), st.lists(st.integers(), max_size=2)),
                "tags": st.one_of(st.lists(st.text(max_size=5), max_size=3), st.text(max_size=5)),
            },
        ),
        max_size=6,
    )
)
def test_structured_jsonl_rows_import_or_raise_a_reasonscope_error(fuzz_db, rows):
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    _import_or_refuse(fuzz_db, data, "jsonl")
