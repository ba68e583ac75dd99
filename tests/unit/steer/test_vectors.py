"""Steering on the tiny model: hidden states change exactly as each formula says (checked with plain torch
forward hooks, independent of core.capture.tracing's recording), vector algebra and uploads."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.capture.templates import build_messages
from core.capture.tracing import intervene
from core.capture.trajectory import GenerationSettings
from core.errors import InputError
from core.steer.interventions import (
    SteeringConfig,
    make_interventions,
    resolve_directions,
    steered_capture,
    steered_generate,
)
from core.steer.vectors import (
    ANY,
    SteeringVector,
    from_diff_in_means,
    load_vector,
    load_vector_file,
    save_vector,
    save_vector_file,
)


def _states(model, ids, interventions=None):
    """Residual stream of every layer (0 = embeddings) from plain forward hooks, registered *after* any
    intervention hooks so they see the edited outputs. ``[n_layers+1, seq, d]``."""
    rec: list[torch.Tensor] = []
    modules = [model.embed_module(), *model.layer_modules()]
    with intervene(model, interventions, n_prompt=ids.shape[1]), torch.no_grad():
        hooks = [
            m.register_forward_hook(
                lambda _m, _i, o: rec.append((o[0] if isinstance(o, tuple) else o)[0].clone())
            )
            for m in modules
        ]
        try:
            model.hf_model(input_ids=ids)
        finally:
            for h in hooks:
                h.remove()
    return torch.stack(rec)


@pytest.fixture()
def ids(tiny_model):
    return torch.tensor([tiny_model.encode_chat(build_messages("How do I bake bread at home?"))])


def vec(d, seed=0, layers=(1,)):
    rng = np.random.default_rng(seed)
    return SteeringVector({layer: rng.normal(size=d) for layer in layers}, name="v")


def test_activation_addition_is_exact(tiny_model, ids):
    v = vec(tiny_model.d_model, layers=(1,))
    base = _states(tiny_model, ids)
    fns = make_interventions(v, SteeringConfig(method="add", alpha=3.0, layers=[1]), tiny_model)
    steered = _states(tiny_model, ids, fns)
    torch.testing.assert_close(steered[0], base[0])  # before the steered layer: untouched
    torch.testing.assert_close(steered[1], base[1] + 3.0 * torch.tensor(v.at(1)), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(steered[2], base[2])  # later layers see the edit


def test_directional_ablation_every_layer_is_exact(tiny_model, ids):
    v = vec(tiny_model.d_model, layers=(1,))
    u = torch.tensor(v.at(1) / np.linalg.norm(v.at(1)))
    base = _states(tiny_model, ids)
    cfg = SteeringConfig(method="ablate")  # layers=None: every layer 0..n with the one direction
    assert sorted(resolve_directions(v, cfg, tiny_model.n_layers)) == [0, 1, 2]
    steered = _states(tiny_model, ids, make_interventions(v, cfg, tiny_model))
    # first steered layer (embeddings): exactly h - (h.u)u
    torch.testing.assert_close(steered[0], base[0] - (base[0] @ u)[:, None] * u, atol=1e-5, rtol=1e-5)
    # and the direction is gone from the residual stream at every layer
    assert (steered @ u).abs().max() < 1e-4
    assert (base @ u).abs().max() > 1e-2


def test_projection_capping_is_exact(tiny_model, ids):
    v = vec(tiny_model.d_model, seed=2, layers=(2,))
    u = torch.tensor(v.at(2) / np.linalg.norm(v.at(2)))
    base = _states(tiny_model, ids)
    cap = float((base[2] @ u).median())  # half the positions are above the cap
    steered = _states(
        tiny_model,
        ids,
        make_interventions(v, SteeringConfig(method="cap", alpha=cap, layers=[2]), tiny_model),
    )
    proj = base[2] @ u
    expected = base[2] - torch.clamp(proj - cap, min=0)[:, None] * u
    torch.testing.assert_close(steered[2], expected, atol=1e-5, rtol=1e-5)
    assert (steered[2] @ u).max() <= cap + 1e-4
    torch.testing.assert_close(steered[:2], base[:2])


def test_positions_prompt_vs_generated_during_generation(tiny_model):
    msgs = build_messages("Explain photosynthesis")
    settings = GenerationSettings(max_new_tokens=4)
    v = vec(tiny_model.d_model, layers=(1,))
    from core.capture.tracing import capture

    base = capture(tiny_model, msgs, settings)
    gen = steered_capture(
        tiny_model, msgs, v, SteeringConfig(alpha=2.0, layers=[1], positions="generated"), settings
    )
    n = base.n_prompt_tokens
    np.testing.assert_allclose(gen.layer(1)[:n], base.layer(1)[:n], atol=1e-6)  # prompt untouched
    # first generated token is chosen from unsteered prompt states, so it is the same token; its state is
    # steered
    assert gen.token_ids[n] == base.token_ids[n]
    np.testing.assert_allclose(gen.layer(1)[n], base.layer(1)[n] + 2.0 * v.at(1), atol=1e-4)
    assert gen.meta["steering"]["layers"] == [1] and "h ← h + α·v" in gen.meta["steering"]["description"]
    prm = steered_capture(
        tiny_model, msgs, v, SteeringConfig(alpha=2.0, layers=[1], positions="prompt"), settings
    )
    np.testing.assert_allclose(prm.layer(1)[:n], base.layer(1)[:n] + 2.0 * v.at(1), atol=1e-4)


def test_steered_generate_changes_text_and_baseline_is_reproducible(tiny_model):
    chats = [build_messages("How do I bake bread?"), build_messages("Tell me a joke")]
    s = GenerationSettings(max_new_tokens=6)
    base1 = steered_generate(tiny_model, chats, None, None, s)
    base2 = steered_generate(tiny_model, chats, None, None, s)
    assert base1 == base2
    big = vec(tiny_model.d_model, layers=(1,)) * 50.0
    steered = steered_generate(tiny_model, chats, big, SteeringConfig(alpha=1.0, layers=[1]), s)
    assert steered != base1


def test_vector_algebra():
    a = SteeringVector({1: np.array([1.0, 0, 0]), 2: np.array([0, 2.0, 0])}, name="a", default_layer=1)
    b = SteeringVector({2: np.array([1.0, 1.0, 1.0])}, name="b")
    np.testing.assert_allclose((a + b).at(2), [1, 3, 1])
    np.testing.assert_allclose((a + b).at(1), [1, 0, 0])  # missing on b -> zero
    np.testing.assert_allclose((a - b).at(2), [-1, 1, -1])
    np.testing.assert_allclose((2.5 * a).at(2), [0, 5, 0])
    np.testing.assert_allclose((-a).at(1), [-1, 0, 0])
    np.testing.assert_allclose(a.normalise().at(2), [0, 1, 0])
    assert (a - b).default_layer == 1 and (a - b).name == "(a - b)"
    with pytest.raises(InputError, match="sizes? 3 and 4"):
        a + SteeringVector({1: np.ones(4)})
    with pytest.raises(InputError, match="zero"):
        SteeringVector({1: np.zeros(3)}).normalise()
    with pytest.raises(InputError, match="no direction for layer 5"):
        a.at(5)
    fa = SteeringVector({1: np.ones(3)}, model_fingerprint="A")
    with pytest.raises(InputError, match="different models"):
        fa + SteeringVector({1: np.ones(3)}, model_fingerprint="B")


def test_diff_in_means_vector_and_wrong_dimension(tiny_model):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 2, tiny_model.d_model))
    y = ["safe", "unsafe"] * 5
    v = from_diff_in_means(X, y, layers=[1, 2])
    np.testing.assert_allclose(v.at(2), X[1::2, 1].mean(0) - X[0::2, 1].mean(0), atol=1e-5)
    wrong = SteeringVector({1: np.ones(tiny_model.d_model + 1)}, name="big")
    with pytest.raises(InputError, match=r"size 65 but the model's hidden size is 64"):
        make_interventions(wrong, SteeringConfig(), tiny_model)
    with pytest.raises(InputError, match="layers 0..2"):
        make_interventions(vec(tiny_model.d_model), SteeringConfig(layers=[7]), tiny_model)
    multi = vec(tiny_model.d_model, layers=(1, 2))
    with pytest.raises(InputError, match="source layer"):
        make_interventions(multi, SteeringConfig(method="ablate"), tiny_model)
    assert sorted(resolve_directions(multi, SteeringConfig(method="ablate", source_layer=2), 2)) == [0, 1, 2]


def test_upload_files_and_artefact_round_trip(tmp_path):
    d = 6
    rng = np.random.default_rng(0)
    one = rng.normal(size=d).astype(np.float32)
    np.save(tmp_path / "v.npy", one)
    v = load_vector_file(tmp_path / "v.npy")
    assert v.layers == (ANY,) and np.allclose(v.at(3), one)
    stack = rng.normal(size=(3, d)).astype(np.float32)
    np.save(tmp_path / "s.npy", stack)
    assert load_vector_file(tmp_path / "s.npy").layers == (0, 1, 2)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="pickled objects are refused"):
        load_vector_file(tmp_path / "obj.npy")
    with pytest.raises(InputError, match="size 6, but the model's hidden size is 8"):
        load_vector_file(tmp_path / "v.npy", d_model=8)
    (tmp_path / "v.txt").write_text("1 2 3")
    with pytest.raises(InputError, match=r"\.safetensors or \.npy"):
        load_vector_file(tmp_path / "v.txt")
    sv = SteeringVector({4: one, 7: -one}, name="mine", model_fingerprint="fpX", default_layer=4)
    save_vector_file(sv, tmp_path / "mine.safetensors")
    back = load_vector_file(tmp_path / "mine.safetensors")
    assert back.layers == (4, 7) and back.default_layer == 4 and back.model_fingerprint == "fpX"
    save_vector(sv, "mine", root=tmp_path / "art")
    art = load_vector("mine", fingerprint="fpX", root=tmp_path / "art")
    np.testing.assert_allclose(art.at(7), -one)
    with pytest.raises(InputError, match="fingerprint fpX"):
        load_vector("mine", fingerprint="other", root=tmp_path / "art")
