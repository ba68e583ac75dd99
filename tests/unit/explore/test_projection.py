import threading
import time

import numpy as np
import pytest

from core.errors import InputError
from core.explore.projection import (
    ProjectionConfig,
    ProjectionManager,
    fit_key,
    knn_transform,
    validate_points,
)

PCA = ProjectionConfig(method="pca")


def _blobs(n=120, d=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[: n // 2, 0] += 6.0
    return x


def _svd_reference(x, k):
    xc = x.astype(np.float64) - x.mean(0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    return xc @ vt[:k].T, vt[:k]


def test_pca_matches_numpy_svd_up_to_sign(tmp_path):
    x = _blobs()
    fit = ProjectionManager(tmp_path).fit(x, key="k", config=PCA)
    want, _ = _svd_reference(x, 2)
    signs = np.sign((fit.embedding * want).sum(0))
    np.testing.assert_allclose(fit.embedding * signs, want, rtol=1e-3, atol=1e-3)
    assert fit.embedding.shape == (120, 2) and fit.init_used == "svd"


def test_pca_transform_and_cold_start_are_exact(tmp_path):
    x, new = _blobs(), _blobs(n=7, seed=5)
    pm = ProjectionManager(tmp_path)
    fit = pm.fit(x, key="k", config=ProjectionConfig(method="pca", n_components=3))
    _, vt = _svd_reference(x, 3)
    want = (new - x.mean(0)) @ vt.T
    got, mode = pm.transform_with_mode(fit, new)
    signs = np.sign((fit.embedding * _svd_reference(x, 3)[0]).sum(0))
    np.testing.assert_allclose(got * signs, want, rtol=1e-3, atol=1e-3)
    assert mode == "pca" and got.shape == (7, 3)
    cold = ProjectionManager(tmp_path)  # a new process would see only the disk cache
    got2, mode2 = cold.transform_with_mode(cold.get("k"), new)
    np.testing.assert_allclose(got2, got, rtol=1e-6)
    assert mode2 == "pca"


def test_cache_hit_memory_and_disk(tmp_path, monkeypatch):
    x = _blobs()
    pm = ProjectionManager(tmp_path)
    fit = pm.fit(x, key="abc", config=PCA, meta={"view": "layer_paths"})
    assert (tmp_path / "abc.safetensors").is_file() and (tmp_path / "abc.json").is_file()

    def boom(*a, **k):
        raise AssertionError("refitted despite a cache hit")

    monkeypatch.setattr(ProjectionManager, "_fit_pca", staticmethod(boom))
    again = pm.fit(x, key="abc", config=PCA)
    assert again is fit
    from_disk = ProjectionManager(tmp_path).fit(x, key="abc", config=PCA)
    np.testing.assert_array_equal(from_disk.embedding, fit.embedding)
    assert from_disk.meta == {"view": "layer_paths"}


def test_fit_key_is_stable_and_sensitive():
    base = dict(layers=[0, 1], pooling="last_prompt", config=ProjectionConfig())
    k = fit_key(["a", "b"], **base)
    assert k == fit_key(["a", "b"], **base)
    assert k != fit_key(["b", "a"], **base)
    assert k != fit_key(["a", "b"], **{**base, "pooling": "mean_all"})
    assert k != fit_key(["a", "b"], **{**base, "config": ProjectionConfig(n_neighbors=10)})
    assert k != fit_key(["a", "b"], **{**base, "layers": [0, 2]})


def test_too_few_points_for_umap_says_count_and_fix(tmp_path):
    with pytest.raises(InputError) as e:
        ProjectionManager(tmp_path).fit(_blobs(n=9), key="k", config=ProjectionConfig(n_neighbors=15))
    msg = str(e.value)
    assert "n_neighbors=15" in msg and "has 9" in msg and "PCA" in msg


def test_nan_rows_name_count_and_trajectories(tmp_path):
    x = _blobs(n=20)
    x[3, 1] = np.nan
    x[4, 0] = np.inf
    x[15, 2] = np.nan
    names = ["traj-a"] * 10 + ["traj-b"] * 10
    with pytest.raises(InputError) as e:
        ProjectionManager(tmp_path).fit(x, key="k", config=PCA, row_names=names)
    assert "3 of 20 points" in str(e.value) and "traj-a" in str(e.value) and "traj-b" in str(e.value)


def test_mixed_models_refused_in_fit_and_transform(tmp_path):
    x = _blobs(n=20)
    pm = ProjectionManager(tmp_path)
    with pytest.raises(InputError, match="different models"):
        pm.fit(x, key="k", config=PCA, fingerprints=["m1"] * 10 + ["m2"] * 10)
    fit = pm.fit(x, key="k", config=PCA, fingerprints=["m1"] * 20)
    with pytest.raises(InputError, match="fitted on model m1"):
        pm.transform(fit, x[:2], fingerprint="m2")
    with pytest.raises(InputError, match="dimension 4"):
        pm.transform(fit, x[:2, :4])


def test_fit_shared_slices_one_fit_per_layer(tmp_path):
    x = np.stack([_blobs(n=30, seed=s) for s in range(4)])  # [layers, n, d]
    fit, per_layer = ProjectionManager(tmp_path).fit_shared(
        x, key="shared", config=PCA, row_names=[f"t{i}" for i in range(30)]
    )
    assert per_layer.shape == (4, 30, 2) and fit.n_points == 120
    np.testing.assert_array_equal(per_layer[2], fit.embedding[60:90])


def test_lock_serialises_umap_fits_across_threads(tmp_path, monkeypatch):
    active, peak = [0], [0]

    def slow(self, x, config, progress, on_stage=None):
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        active[0] -= 1
        return np.asarray(x[:, :2], dtype=np.float32), None, "pca", {}

    monkeypatch.setattr(ProjectionManager, "_fit_umap", slow)
    pm = ProjectionManager(tmp_path)
    umap_cfg = ProjectionConfig(method="umap", n_neighbors=5)
    threads = [
        threading.Thread(target=pm.fit, args=(_blobs(seed=i),), kwargs={"key": f"k{i}", "config": umap_cfg})
        for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 1 and len(list(tmp_path.glob("*.json"))) == 4


def test_pca_is_not_queued_behind_a_running_umap_fit(tmp_path):
    """The Explore page's quick PCA map must not wait for a background UMAP fit (it holds the lock)."""
    pm = ProjectionManager(tmp_path)
    with pm.lock:  # as a UMAP fit in another thread would
        done = threading.Event()
        t = threading.Thread(target=lambda: (pm.fit(_blobs(), key="p", config=PCA), done.set()))
        t.start()
        assert done.wait(10)
        t.join()


def test_progress_reaches_total(tmp_path):
    calls = []
    ProjectionManager(tmp_path).fit(_blobs(), key="k", config=PCA, progress=lambda a, b: calls.append((a, b)))
    assert calls[-1] == (100, 100) and all(b == 100 for _, b in calls)


def test_knn_transform_weights():
    ref = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 10.0]])
    emb = np.array([[0.0, 0.0], [4.0, 0.0], [100.0, 100.0]])
    out = knn_transform(ref, emb, np.array([[0.25, 0.0], [1.0, 0.0]]), k=2)
    # weights 1/0.25 and 1/0.75 -> 0.75 / 0.25 split; the exact duplicate lands on its twin
    np.testing.assert_allclose(out, [[1.0, 0.0], [4.0, 0.0]], atol=1e-6)


def test_validate_points_rejects_empty():
    with pytest.raises(InputError, match="Nothing to project"):
        validate_points(np.zeros((0, 3)))


@pytest.mark.slow  # numba compiles umap's kernels once per process: ≈15 s idle, up to ≈50 s on a busy CPU
def test_umap_fit_transform_cold_refit_and_knn(tmp_path):
    pytest.importorskip("umap")
    x = _blobs(n=80, d=6)
    cfg = ProjectionConfig(method="umap", n_neighbors=8, seed=3)
    calls = []
    pm = ProjectionManager(tmp_path)
    fit = pm.fit(x, key="u", config=cfg, progress=lambda a, b: calls.append(a))
    assert fit.embedding.shape == (80, 2) and np.isfinite(fit.embedding).all() and calls[-1] == 100
    assert fit.reference.shape == (80, 6) and fit.init_used == "spectral"
    # clusters stay apart in the map
    a, b = fit.embedding[:40].mean(0), fit.embedding[40:].mean(0)
    assert np.linalg.norm(a - b) > 2 * fit.embedding[:40].std(0).mean()
    new = x[:3] + 0.01
    out, mode = pm.transform_with_mode(fit, new)
    assert mode == "umap" and out.shape == (3, 2)
    cold = ProjectionManager(tmp_path)
    cold_fit = cold.get("u")
    knn, mode_k = cold.transform_with_mode(cold_fit, new, cold="knn")
    assert mode_k == "knn" and knn.shape == (3, 2)
    refit, mode_r = cold.transform_with_mode(cold_fit, new)
    assert mode_r == "umap-refit"  # the seeded refit reproduced the cached map exactly
    np.testing.assert_allclose(refit, out, atol=1e-3 * np.ptp(fit.embedding))
