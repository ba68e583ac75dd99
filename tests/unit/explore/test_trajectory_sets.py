import numpy as np
import pytest

from core.capture.store import ActivationStore
from core.errors import InputError
from core.explore.projection import ProjectionConfig, ProjectionManager
from core.explore.trajectory_sets import (
    centroid_from_store,
    class_means_from_store,
    fit_layer_paths,
    fit_token_paths,
    load_set,
    project_layer_path,
    project_token_path,
)
from tests.explorer_fakes import REASONING_TOKENS, make_traj

PCA = ProjectionConfig(method="pca")


@pytest.fixture()
def store(tmp_path):
    s = ActivationStore(tmp_path / "store")
    for i in range(6):
        toks = REASONING_TOKENS if i % 2 else ["a", "b", "c", "d", "e"]
        s.put(make_traj(toks, 2, d=12, seed=i), dataset="d", label=("safe", "unsafe")[i % 2])
    return s


@pytest.mark.parametrize("normalize", [True, False])
def test_a_reference_trajectory_projects_onto_its_own_layer_path(store, tmp_path, normalize):
    ts = load_set(store, store.query())
    pm = ProjectionManager(tmp_path / "proj")
    lp = fit_layer_paths(pm, ts, "reasoning", PCA, normalize=normalize)
    assert lp.coords.shape == (6, 4, 2)
    assert lp.fell_back.tolist() == [m.label == "safe" for m in ts.metas]  # no reasoning span -> fallback
    xy, mode = project_layer_path(pm, lp, ts.trajs[2])
    np.testing.assert_allclose(xy, lp.coords[2], atol=1e-4)
    assert mode == "pca"
    assert ("layer_mean" in lp.fit.extras) == normalize
    # a second call is a cache hit that does not need the hidden states
    for t in ts.trajs:
        t.hidden = None
    again = fit_layer_paths(pm, ts, "reasoning", PCA, normalize=normalize)
    np.testing.assert_array_equal(again.coords, lp.coords)


def test_token_paths_shared_fit_and_projection(store, tmp_path):
    ts = load_set(store, store.query())
    pm = ProjectionManager(tmp_path / "proj")
    tp = fit_token_paths(pm, ts, [1, 3], PCA, which="all", max_tokens=4)
    assert tp.coords.shape == (2, 24, 2) and tp.token_index.max() < 10
    xy, tok_idx, _ = project_token_path(pm, tp, ts.trajs[0])
    rows = tp.traj_index == 0
    np.testing.assert_allclose(xy, tp.coords[:, rows], atol=1e-4)
    np.testing.assert_array_equal(tok_idx, tp.token_index[rows])
    cold = ProjectionManager(tmp_path / "proj")  # from disk: normalisation stats come back with the fit
    tp2 = fit_token_paths(cold, ts, [1, 3], PCA, which="all", max_tokens=4)
    xy2, _, _ = project_token_path(cold, tp2, ts.trajs[0])
    np.testing.assert_allclose(xy2, xy, atol=1e-5)


def test_deleted_entries_are_skipped_and_listed(store):
    metas = store.query()
    store.path_of(metas[0].key).unlink()
    ts = load_set(store, metas)
    assert ts.missing == [metas[0].key] and len(ts.trajs) == 5


def test_mixed_models_refused(store, tmp_path):
    store.put(make_traj(["x", "y"], 1, d=12, seed=50, fingerprint="fp-b"))
    ts = load_set(store, store.query())
    with pytest.raises(InputError, match="mixes trajectories of 2 models"):
        fit_layer_paths(ProjectionManager(tmp_path / "p"), ts, "mean_all", PCA)


def test_reference_centroid_and_direction_from_store(store):
    metas = store.query()
    traj = store.get(metas[0].key)
    cen, n = centroid_from_store(store, metas, traj)
    others = [store.get(m.key) for m in metas[1:]]
    np.testing.assert_allclose(cen, np.mean([t.hidden.mean(1) for t in others], axis=0), rtol=1e-5)
    assert n == 5
    pos, neg, n_pos, n_neg = class_means_from_store(store, metas, traj)
    assert pos.shape == neg.shape == (4, 12) and n_pos + n_neg == 5
    unsafe = [store.get(m.key) for m in metas[1:] if m.label == "unsafe"]
    want = np.mean([t.hidden[:, t.n_prompt_tokens :].mean(1) for t in unsafe], axis=0)  # completion pooling
    np.testing.assert_allclose(pos, want, rtol=1e-5)
    with pytest.raises(InputError, match="labelled 'unsafe' and 'safe'"):
        class_means_from_store(store, [m for m in metas if m.label == "safe"], traj)
