"""UMAP fit stages: the text says the stage, elapsed time and a measured expectation (never a fake bar)."""

import numpy as np
import pytest

from core.explore.fit_stages import (
    COMPILE,
    KNN,
    LAYOUT,
    FitStage,
    SpeedBook,
    StageReporter,
    stage_text,
    stages_summary,
)
from core.explore.projection import ProjectionConfig, ProjectionManager


def test_unknown_length_stage_has_no_fraction_and_says_elapsed_and_no_estimate():
    ev = FitStage(name=KNN, index=2, count=3, n_points=600, elapsed_s=4.2)
    assert ev.fraction is None
    text = stage_text(ev)
    assert "Stage 2/3" in text and "k-nearest-neighbour graph of 600 points" in text
    assert "4 s so far" in text and "no earlier fit" in text and "%" not in text


def test_expected_duration_scales_the_nearest_earlier_fit():
    book = SpeedBook()
    book.record(KNN, 1000, 2.0)
    book.record(KNN, 100, 0.1)
    book.record(COMPILE, 1000, 8.0)
    secs, basis = book.expected(KNN, 2000)
    assert secs == pytest.approx(4.0) and "1000 points took 2.0 s" in basis
    assert book.expected(COMPILE, 50)[0] == 8.0  # compiling does not depend on the points
    assert book.expected(LAYOUT, 10) is None
    ev = FitStage(name=KNN, index=1, count=2, n_points=2000, elapsed_s=1, expected_s=secs, basis=basis)
    assert "expected ≈ 4 s (1000 points took 2.0 s earlier)" in stage_text(ev)


def test_layout_epochs_give_a_measured_rate_and_time_left():
    ev = FitStage(name=LAYOUT, index=2, count=2, n_points=90, elapsed_s=2.0, done=100, total=500)
    assert ev.fraction == pytest.approx(0.2)
    assert "100/500 epochs · 50.00 epochs/s · about 8 s left" in stage_text(ev)
    done = FitStage(name=LAYOUT, index=2, count=2, n_points=90, elapsed_s=2.0, finished=True)
    assert stage_text(done).endswith("done in 2 s")


def test_reporter_times_stages_and_feeds_the_book():
    seen, book = [], SpeedBook()
    rep = StageReporter(seen.append, [KNN, LAYOUT], 300, book)
    rep.start(KNN)
    rep.start(LAYOUT)
    rep.step(10, 200)
    secs = rep.record()
    assert set(secs) == {KNN, LAYOUT}
    assert [(e.name, e.finished, e.done) for e in seen] == [
        (KNN, False, None),
        (KNN, True, None),
        (LAYOUT, False, None),
        (LAYOUT, False, 10),
        (LAYOUT, True, None),
    ]
    assert book.expected(KNN, 300) is not None
    assert stages_summary({LAYOUT: 0.5, KNN: 0.25}) == "kNN graph 0.2 s · layout 0.5 s"


def test_cached_stage_seconds_seed_a_new_managers_estimates(tmp_path):
    import json

    (tmp_path / "a.json").write_text(json.dumps({"stage_seconds": {KNN: 1.5, LAYOUT: 3.0}, "n_points": 500}))
    pm = ProjectionManager(tmp_path)
    pm._seed_speeds()
    assert pm.speeds.expected(LAYOUT, 1000)[0] == pytest.approx(6.0)


@pytest.mark.slow  # the first UMAP fit of a process compiles numba kernels (≈8 s idle)
def test_umap_fit_reports_compile_knn_and_layout_then_only_knn_and_layout(tmp_path):
    pytest.importorskip("umap")
    x = np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32)
    cfg = ProjectionConfig(method="umap", n_neighbors=6, seed=1)
    pm, seen = ProjectionManager(tmp_path), []
    fit = pm.fit(x, key="a", config=cfg, on_stage=seen.append)
    names = list(dict.fromkeys(e.name for e in seen))
    assert names[-2:] == [KNN, LAYOUT] and set(fit.stage_seconds) == set(names)
    assert any(e.name == LAYOUT and e.total for e in seen)  # epochs observed
    assert all(e.fraction is None for e in seen if e.name != LAYOUT)  # no fake bar
    again = []
    pm.fit(x + 1, key="b", config=cfg, on_stage=again.append)
    assert list(dict.fromkeys(e.name for e in again)) == [KNN, LAYOUT]  # compiled already
    assert next(e for e in again if e.name == KNN).expected_s is not None  # measured on the first fit
    assert ProjectionManager(tmp_path).get("a").stage_seconds == fit.stage_seconds  # stored with the fit
