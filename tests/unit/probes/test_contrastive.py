"""CRAFT phase-1 contrastive head: learns a planted 3-cluster structure; losses behave as defined."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InputError


def clusters(n_per: int = 60, d: int = 32, seed: int = 0, spread: float = 1.0):
    """safe / unsafe at opposite ends of a planted axis, rethink between them, in noisy high-dim space."""
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=d)
    axis /= np.linalg.norm(axis)
    other = rng.normal(size=d)
    other -= (other @ axis) * axis
    other /= np.linalg.norm(other)
    centres = {"safe": -3 * axis, "unsafe": 3 * axis, "rethink": 2.5 * other}
    X, y = [], []
    for label, c in centres.items():
        X.append(c + spread * rng.normal(size=(n_per, d)))
        y += [label] * n_per
    return np.concatenate(X).astype(np.float32), np.array(y)


def test_contrastive_head_learns_planted_clusters():
    from core.probes.contrastive import ContrastiveConfig, train_contrastive

    X, y = clusters(n_per=40, seed=0)
    Xv, yv = clusters(n_per=20, seed=0)  # same centres (same seed), fresh noise below
    Xv = Xv + np.random.default_rng(7).normal(size=Xv.shape).astype(np.float32) * 0.3
    cfg = ContrastiveConfig(hidden=64, dim=16, epochs=20, batch_size=32, seed=0)
    ticks = []
    probe = train_contrastive(
        X, y, config=cfg, layer=3, X_val=Xv, labels_val=yv, progress=lambda a, b: ticks.append((a, b))
    )
    assert ticks[-1] == (20, 20)
    val = probe.metrics["validation"]
    assert val["macro_f1"] >= 0.9, val
    assert val["prototype_macro_f1"] >= 0.9, val
    z = probe.embed(Xv)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)
    cos = probe.prototype_cosines(z)
    assert cos.shape == (len(Xv), 3)
    # each class is closest to its own prototype on average, and rethink sits between safe and unsafe
    for c, label in enumerate(("safe", "unsafe", "rethink")):
        assert cos[yv == label].mean(0).argmax() == c
    p = probe.p_safe(Xv)
    assert p[yv == "safe"].mean() > 0.8 and p[yv == "unsafe"].mean() < 0.2
    r = probe.latent_reward(Xv)
    assert r[yv == "safe"].mean() > r[yv == "rethink"].mean() > r[yv == "unsafe"].mean()
    # the loss went down
    assert probe.history[-1]["loss"] < probe.history[0]["loss"]


def test_contrastive_is_seeded_and_token_dropout_runs():
    from core.probes.contrastive import ContrastiveConfig, train_contrastive

    X, y = clusters(n_per=12, d=8)
    cfg = ContrastiveConfig(hidden=16, dim=4, epochs=3, batch_size=8, seed=1)
    a = train_contrastive(X, y, config=cfg)
    b = train_contrastive(X, y, config=cfg)
    np.testing.assert_array_equal(a.embed(X), b.embed(X))
    rng = np.random.default_rng(0)
    tokens = [x + rng.normal(scale=0.1, size=(5, 8)).astype(np.float32) for x in X]  # 5 token states each
    c = train_contrastive(X, y, config=cfg, tokens=tokens)
    assert c.history and np.isfinite(c.history[-1]["loss"])


def test_prototype_loss_and_info_nce_by_hand():
    import torch

    from core.probes.contrastive import info_nce, prototype_loss

    protos = torch.eye(3)
    z = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0.6, 0.8, 0]])
    y = torch.tensor([0, 1, 2, 0])
    m = 0.2
    # safe at mu_s: relu(.2-1+0)=0; unsafe at mu_u: 0; rethink at mu_r: .5*(1-1)+relu(.2-1+0)=0;
    # safe item at (.6,.8): relu(.2-.6+.8)=.4
    assert prototype_loss(z, y, protos, m, 0.5).item() == pytest.approx(0.4 / 4)
    same = torch.nn.functional.normalize(torch.randn(4, 3), dim=-1)
    perfect = info_nce(torch.eye(4) * 1.0, torch.eye(4) * 1.0, 0.1)
    assert perfect.item() < info_nce(same, same.flip(0), 0.1).item()


def test_contrastive_bad_input():
    from core.probes.contrastive import train_contrastive

    X, _ = clusters(n_per=3, d=4)
    with pytest.raises(InputError, match="at least 2 'safe' and 2 'unsafe'"):
        train_contrastive(X[:4], ["safe", "safe", "safe", "rethink"])
    with pytest.raises(InputError, match="'safe', 'unsafe' or 'rethink'"):
        train_contrastive(X[:2], ["safe", "maybe"])
