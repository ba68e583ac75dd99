import numpy as np
import pytest

from core.errors import InputError
from core.explore.pooling import (
    centroid_cosine,
    direction_scores,
    norm_scores,
    pool_layers,
    pool_span,
    reference_centroid,
    stack_pooled,
    stack_tokens,
    token_layer_scores,
    token_range,
)
from tests.explorer_fakes import REASONING_TOKENS, make_traj


def test_reasoning_pooling_averages_exactly_the_reasoning_tokens():
    t = make_traj(REASONING_TOKENS, n_prompt=2)
    span = t.span("reasoning")
    assert (span.start, span.end) == (3, 6)  # "It is safe"
    got = pool_layers(t, "reasoning")
    assert got.shape == (4, 8)
    np.testing.assert_allclose(got, t.hidden[:, 3:6].mean(axis=1), rtol=1e-6)
    assert not pool_span(t, "reasoning").fell_back


def test_poolings_against_manual_slices():
    t = make_traj(["a", "b", "c", "d", "e"], n_prompt=3)
    np.testing.assert_allclose(pool_layers(t, "last_prompt"), t.hidden[:, 2], rtol=1e-6)
    np.testing.assert_allclose(pool_layers(t, "completion"), t.hidden[:, 3:].mean(1), rtol=1e-6)
    np.testing.assert_allclose(pool_layers(t, "mean_all"), t.hidden.mean(1), rtol=1e-6)
    np.testing.assert_allclose(pool_layers(t, "mean_all", layers=[3, 1]), t.hidden[[3, 1]].mean(1), rtol=1e-6)


def test_reasoning_falls_back_to_completion_then_last_prompt_with_flag():
    t = make_traj(["a", "b", "c", "d"], n_prompt=2)
    s = pool_span(t, "reasoning")
    assert (s.used, s.fell_back, s.start, s.end) == ("completion", True, 2, 4)
    prompt_only = make_traj(["a", "b", "c"], n_prompt=3)
    s = pool_span(prompt_only, "completion")
    assert (s.used, s.fell_back, s.start, s.end) == ("last_prompt", True, 2, 3)
    stack = stack_pooled([t, prompt_only, make_traj(REASONING_TOKENS, 2)], "reasoning")
    assert stack.fell_back.tolist() == [True, True, False]
    assert stack.used == ["completion", "last_prompt", "reasoning"]


def test_bad_pooling_and_missing_layer_are_clear():
    t = make_traj(["a", "b"], 1, layers=(0, 2))
    with pytest.raises(InputError, match="Unknown pooling"):
        pool_layers(t, "max")
    with pytest.raises(InputError, match=r"Layer\(s\) \[1\] were not captured"):
        pool_layers(t, "mean_all", layers=[1])


def test_stack_pooled_uses_common_layers_and_flat_tables():
    a = make_traj(["a", "b", "c"], 2, layers=(0, 1, 2), seed=1)
    b = make_traj(["x", "y"], 1, layers=(1, 2, 3), seed=2)
    st = stack_pooled([a, b], "mean_all")
    assert st.layers == (1, 2)
    pts, ti, layer = st.flat()
    assert pts.shape == (4, 8) and ti.tolist() == [0, 0, 1, 1] and layer.tolist() == [1, 2, 1, 2]
    np.testing.assert_allclose(pts[3], b.hidden[1].mean(0), rtol=1e-6)  # b's layer 2 is its row 1


def test_different_hidden_sizes_are_refused():
    with pytest.raises(InputError, match="different hidden sizes"):
        stack_pooled([make_traj(["a"], 1, d=8), make_traj(["a"], 1, d=4)], "mean_all")


def test_stack_tokens_index_tables_and_order():
    a = make_traj(["a", "b", "c"], 2, seed=1)
    b = make_traj(["x", "y", "z", "w"], 1, seed=2)
    st = stack_tokens([a, b], layers=[0, 3])
    assert st.states.shape == (2, 7, 8)
    assert st.traj_index.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert st.token_index.tolist() == [0, 1, 2, 0, 1, 2, 3]
    np.testing.assert_array_equal(st.states[1, 4], b.hidden[3, 1])
    pts, layer, ti, tok = st.flat()
    assert (
        pts.shape == (14, 8)
        and layer.tolist() == [0] * 7 + [3] * 7
        and ti.tolist()[7:] == st.traj_index.tolist()
    )
    st2 = stack_tokens([a, b], layers=[1], which="completion", max_tokens=2)
    assert st2.token_index.tolist() == [2, 2, 3]  # a: completion "c"; b: last 2 of "y z w"


def test_token_range_prompt_only_completion_falls_back_to_all():
    assert token_range(make_traj(["a", "b"], 2), "completion") == (0, 2)
    with pytest.raises(InputError):
        token_range(make_traj(["a"], 1), "middle")


def test_scores_against_independent_formulas():
    rng = np.random.default_rng(3)
    h = rng.normal(size=(3, 5, 6)).astype(np.float32)
    np.testing.assert_allclose(norm_scores(h), np.sqrt((h.astype(np.float64) ** 2).sum(-1)), rtol=1e-5)
    v = rng.normal(size=6)
    want = np.array([[float(np.dot(h[i, j], v) / np.sqrt(np.dot(v, v))) for j in range(5)] for i in range(3)])
    np.testing.assert_allclose(direction_scores(h, v), want, rtol=1e-4, atol=1e-5)
    per_layer_v = rng.normal(size=(3, 6))
    want_l = np.stack([h[i] @ (per_layer_v[i] / np.linalg.norm(per_layer_v[i])) for i in range(3)])
    np.testing.assert_allclose(direction_scores(h, per_layer_v), want_l, rtol=1e-4, atol=1e-5)
    c = rng.normal(size=(3, 6))
    want_c = np.array(
        [
            [np.dot(h[i, j], c[i]) / np.linalg.norm(h[i, j]) / np.linalg.norm(c[i]) for j in range(5)]
            for i in range(3)
        ]
    )
    np.testing.assert_allclose(centroid_cosine(h, c), want_c, rtol=1e-4, atol=1e-5)
    assert centroid_cosine(np.zeros((2, 6)), c[0]).tolist() == [0.0, 0.0]  # zero state: 0, not NaN
    with pytest.raises(InputError, match="zero vector"):
        direction_scores(h, np.zeros(6))


def test_reference_centroid_and_token_layer_scores():
    ts = [make_traj(["a", "b", "c"], 2, seed=s) for s in range(3)]
    cen = reference_centroid(ts, [0, 1, 2, 3])
    np.testing.assert_allclose(cen, np.mean([t.hidden.mean(1) for t in ts], axis=0), rtol=1e-5)
    s = token_layer_scores(ts[0], "centroid_cosine", centroid=cen)
    assert s.shape == (4, 3) and np.all(np.abs(s) <= 1 + 1e-6)
    assert token_layer_scores(ts[0], "norm").shape == (4, 3)
    with pytest.raises(InputError, match="reference set"):
        token_layer_scores(ts[0], "centroid_cosine")
    with pytest.raises(InputError, match="Probes page"):
        token_layer_scores(ts[0], "direction")


def test_class_means_and_missing_class():
    from core.explore.pooling import class_means

    states = np.arange(4 * 2 * 3, dtype=np.float32).reshape(4, 2, 3)
    pos, neg = class_means(states, ["unsafe", "safe", "unsafe", None])
    np.testing.assert_allclose(pos, (states[0] + states[2]) / 2)
    np.testing.assert_allclose(neg, states[1])
    with pytest.raises(InputError, match="0 safe"):
        class_means(states, ["unsafe", None, "unsafe", "rethink"])


def test_per_layer_direction_zero_at_one_layer_scores_zero_there():
    h = np.ones((2, 3, 4), dtype=np.float32)
    v = np.array([[0, 0, 0, 0], [1, 0, 0, 0]], dtype=np.float32)
    np.testing.assert_allclose(direction_scores(h, v), [[0, 0, 0], [1, 1, 1]])


def test_layer_stats_normalise_each_layer_to_unit_rms_and_constant_layers_to_zero():
    from core.explore.pooling import layer_stats, normalize_layers

    rng = np.random.default_rng(0)
    x = np.stack([np.ones((5, 4)), rng.normal(size=(5, 4)) * 7 + 100]).astype(np.float32)  # [L=2, n=5, d=4]
    mean, scale = layer_stats(x)
    z = normalize_layers(x, mean, scale)
    np.testing.assert_allclose(z[0], 0.0, atol=1e-6)
    np.testing.assert_allclose(np.sqrt((z[1] ** 2).sum(-1).mean()), 1.0, rtol=1e-5)
    np.testing.assert_allclose(z[1].mean(0), 0.0, atol=1e-5)


def test_relative_to_layer_divides_by_row_median():
    from core.explore.pooling import relative_to_layer

    s = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 40.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(relative_to_layer(s), [[0.5, 1, 1.5], [0.5, 1, 2], [0, 0, 0]])


def test_class_axis_scores_map_means_to_minus_and_plus_one():
    from core.explore.pooling import class_axis_scores

    rng = np.random.default_rng(1)
    pos, neg = rng.normal(size=(2, 5)), rng.normal(size=(2, 5))
    neg[1] = pos[1]  # layer 1: the classes coincide
    h = np.stack(
        [np.stack([neg[i], pos[i], (pos[i] + neg[i]) / 2, pos[i] + 3 * (pos[i] - neg[i])]) for i in range(2)]
    )
    s = class_axis_scores(h, pos, neg)
    np.testing.assert_allclose(s[0], [-1, 1, 0, 7], atol=1e-5)
    np.testing.assert_allclose(s[1], 0, atol=1e-6)
