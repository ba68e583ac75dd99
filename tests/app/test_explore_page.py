import numpy as np
import pytest

from core.capture.store import ActivationStore
from tests.app.explorer_fixtures import fill_store, spec_of
from tests.explorer_fakes import make_traj

pytestmark = pytest.mark.app
PAGE = "app/app_pages/explore.py"


def test_empty_store_says_what_to_do(app_env, run_page):
    at = run_page(PAGE)
    assert not at.exception
    assert any("No trajectories yet" in i.value for i in at.info)


def test_layer_paths_pca_one_trace_per_label_and_keys_as_customdata(app_env, tiny_model, run_page):
    keys = fill_store(tiny_model)
    at = run_page(PAGE, explore_method="PCA")
    assert not at.exception, at.exception
    assert not at.error
    spec = spec_of(at)
    names = [t["name"] for t in spec["data"]]
    assert len(names) == 4 and names[0].startswith("rethink") and names[-1].startswith("unlabelled")
    custom = {c for t in spec["data"] for c in t["customdata"] if c}
    assert custom == set(keys)  # every trajectory clickable by its key
    assert at.radio(key="explore_view").value == "Layer paths"
    # switching colouring redraws from the cached fit: marker colours by layer, one colour bar
    at.radio(key="explore_colour").set_value("layer").run()
    assert not at.exception and len(spec_of(at)["data"]) == 2
    at.radio(key="explore_colour").set_value("safe → unsafe axis").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.radio(key="explore_dims").set_value(3).run()
    assert {t["type"] for t in spec_of(at)["data"]} == {"scatter3d"}
    assert not at.exception and not at.error, [e.value for e in at.error]


def test_token_paths_have_animation_frames(app_env, tiny_model, run_page):
    fill_store(tiny_model, n=4)
    at = run_page(PAGE, explore_method="PCA", explore_view="Token paths at a layer")
    assert not at.exception and not at.error
    spec = spec_of(at)
    assert len(spec["frames"]) == 3  # tiny model: layers 0, 1, 2 -> one frame each
    assert spec["layout"]["sliders"][0]["steps"][0]["label"] == "0"
    at.toggle(key="explore_animate").set_value(False).run()
    assert not at.exception and "frames" not in spec_of(at) or not spec_of(at).get("frames")


def test_umap_too_few_points_is_a_message_not_a_traceback(app_env, tiny_model, run_page):
    fill_store(tiny_model, n=3)  # 3 trajectories x 3 layers = 9 points < n_neighbors 15
    at = run_page(PAGE)
    assert not at.exception
    assert at.error and "n_neighbors=15" in at.error[0].value and "has 9" in at.error[0].value


def test_mixed_models_and_deleted_entries_and_nan(app_env, run_page):
    store = ActivationStore()
    keys = [store.put(make_traj(["a", "b", "c"], 2, d=16, seed=s, fingerprint="fp-one")) for s in range(5)]
    other = store.put(make_traj(["x", "y"], 1, d=16, seed=9, fingerprint="fp-two"))
    at = run_page(PAGE, explore_method="PCA", explore_model="(all)")
    assert not at.exception
    assert at.error and "mixes trajectories of 2 models" in at.error[0].value
    store.delete(other)
    store.path_of(keys[0]).unlink()  # a file deleted behind the index's back
    at = run_page(PAGE, explore_method="PCA", explore_model="(all)")
    assert not at.exception and not at.error
    assert any("deleted from the store" in w.value for w in at.warning)
    bad = make_traj(["a", "b", "c"], 2, d=16, seed=7, fingerprint="fp-one")
    bad.hidden[1, 1, 3] = np.nan
    store.put(bad)
    at = run_page(PAGE, explore_method="PCA", explore_model="(all)")
    assert not at.exception
    assert at.error and "NaN" in at.error[0].value and bad.key[:12] in at.error[0].value


def test_project_a_new_prompt_adds_a_highlighted_path(app_env, tiny_model, run_page):
    fill_store(tiny_model, n=6)
    at = run_page(PAGE, explore_method="PCA")
    n_before = len(spec_of(at)["data"])
    at.text_area(key="explore_new_prompt").input("How do I open a locked door?")
    at.button(key="FormSubmitter:explore_project_form-Project").click().run()
    assert not at.exception and not at.error
    data = spec_of(at)["data"]
    assert len(data) == n_before + 1 and data[-1]["name"].startswith("★")
    assert len(data[-1]["x"]["bdata"] if isinstance(data[-1]["x"], dict) else data[-1]["x"]) > 0
    assert any("placed by pca" in c.value for c in at.caption)


def test_safe_to_unsafe_axis_states_its_reliability_and_paints_unsafe_red(app_env, tiny_model, run_page):
    from plotly.colors import sample_colorscale

    from core.explore.palette import UNSAFE, colours_at
    from tests.app.test_trace_page import _save_probe

    keys = fill_store(tiny_model)
    _save_probe(tiny_model, "good", separated=True)
    _save_probe(tiny_model, "noise", separated=False)
    at = run_page(PAGE, explore_method="PCA", explore_colour="safe → unsafe axis")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="explore_axis").value == "good"  # the best saved probe is the default axis
    line = next(c.value for c in at.caption if c.value.startswith("Axis:"))
    assert "saved probe 'good'" in line and "held-out AUROC" in line and "n = 12 safe / 12 unsafe" in line
    marker = next(t for t in spec_of(at)["data"] if isinstance(t.get("marker", {}).get("colorscale"), list))
    m = marker["marker"]
    assert (m["cmin"], m["cmax"]) == (0.0, 1.0) and "P(unsafe)" in m["colorbar"]["title"]["text"]
    scale = [[float(p), c] for p, c in m["colorscale"]]
    top = sample_colorscale(scale, [1.0], colortype="tuple")[0]
    assert colours_at([[0, "#000000"], [1, "#FFFFFF"]], [0.0]) == ["#000000"]
    assert colours_at(scale, [1.0]) == [UNSAFE] and max(top) <= 1  # P(unsafe) = 1 -> the unsafe colour
    assert set(keys) >= {c for c in marker["customdata"] if c}
    # an unreliable axis: warning, coloured by label instead, until asked to colour anyway
    at.selectbox(key="explore_axis").set_value("noise").run()
    assert at.warning and "not reliable" in at.warning[0].value
    assert any("Coloured by label instead" in c.value for c in at.caption)
    assert [t["name"] for t in spec_of(at)["data"]][0].startswith("rethink")
    at.checkbox(key="explore_axis_anyway").check().run()
    assert not at.exception and any("colorscale" in t.get("marker", {}) for t in spec_of(at)["data"])
    # the difference of means of the selection, at a chosen layer
    at.selectbox(key="explore_axis").set_value("(difference of means of this selection)").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    line = next(c.value for c in at.caption if c.value.startswith("Axis:"))
    assert "difference of means (this selection)" in line and "3 safe / 3 unsafe" in line


class _FastUMAP:
    """Stands in for umap (no numba compile in the page test): calls the layout hook and writes epochs to
    the tqdm sink exactly as the real fit does."""

    on_layout = None

    def __init__(self, n_components=2, tqdm_kwds=None, **_):
        self.k, self.tqdm = n_components, tqdm_kwds or {}

    def fit_transform(self, x):
        if self.on_layout is not None:
            self.on_layout()
        sink = self.tqdm.get("file")
        for done in (0, 5, 10):
            if sink is not None:
                sink.write(f"{done}/10")
        return np.asarray(x)[:, : self.k]


def test_umap_progress_in_stages_spinner_when_unknown_bar_only_for_epochs(
    app_env, tiny_model, run_page, monkeypatch
):
    from app.explorer_widgets import StageDisplay
    from core.explore import projection

    monkeypatch.setattr(projection, "_staged_umap_class", lambda: _FastUMAP)
    monkeypatch.setattr(projection, "_warm_up", lambda config, approximate: None)
    monkeypatch.setattr(projection, "_WARM", set())
    shown: list[tuple[str, str]] = []
    spin, call = StageDisplay._spin, StageDisplay.__call__
    monkeypatch.setattr(
        StageDisplay, "_spin", lambda self, n, t: (shown.append(("spinner", n)), spin(self, n, t))
    )
    monkeypatch.setattr(
        StageDisplay,
        "__call__",
        lambda self, ev: (
            shown.append(("bar", ev.name)) if ev.fraction is not None else None,
            call(self, ev),
        ),
    )
    fill_store(tiny_model, n=8)  # 8 trajectories x 3 layers = 24 points > n_neighbors 15
    at = run_page(PAGE, explore_progressive=False)  # wait for UMAP in the foreground, stages shown
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert ("spinner", "compile") in shown and ("spinner", "knn") in shown  # unknown length: spinner
    assert ("bar", "layout") in shown and ("bar", "knn") not in shown  # a bar only where epochs are seen
    line = next(c.value for c in at.caption if "fitted in" in c.value)
    assert "compiling kernels" in line and "kNN graph" in line and "layout" in line


def test_first_umap_map_is_pca_at_once_then_umap_from_the_background(
    app_env, tiny_model, run_page, monkeypatch
):
    """Progressive (the default): the PCA map is on screen at once, labelled; UMAP is fitted in a background
    thread behind the projection manager's lock and shown on the next run."""
    import threading

    from core.explore import projection
    from core.explore.background import background_fits

    gate = threading.Event()

    class _SlowUMAP(_FastUMAP):
        def fit_transform(self, x):
            gate.wait(10)  # held until the PCA map has been drawn
            return super().fit_transform(x)

    monkeypatch.setattr(projection, "_staged_umap_class", lambda: _SlowUMAP)
    monkeypatch.setattr(projection, "_warm_up", lambda config, approximate: None)
    fill_store(tiny_model, n=8)
    at = run_page(PAGE)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Showing **PCA** now" in i.value for i in at.info), [c.value for c in at.caption]
    assert any("PCA fitted in" in c.value for c in at.caption)
    running = [j for j in background_fits()._jobs.values() if not j.done]
    assert len(running) == 1
    gate.set()
    assert running[0].wait(10) and running[0].error is None
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert not any("Showing **PCA** now" in i.value for i in at.info)
    assert any("UMAP fitted in" in c.value for c in at.caption)


def test_token_density_view_draws_all_tokens_as_density_and_only_the_picked_paths(
    app_env, tiny_model, run_page
):
    fill_store(tiny_model, n=8)
    at = run_page(
        PAGE,
        explore_method="PCA",
        explore_view="Token paths at a layer",
        explore_draw="Density + picked paths",
    )
    assert not at.exception and not at.error, [e.value for e in at.error]
    spec = spec_of(at)
    kinds = [t["type"] for t in spec["data"]]
    assert kinds[0] == "histogram2dcontour" and not spec.get("frames")  # one layer, no animation
    picked = at.multiselect(key="explore_highlight").value
    assert 1 <= len(picked) <= 4 and kinds[1:] == ["scatter"] * len(picked)
    assert {lab.split(" · ")[0] for lab in (t["name"] for t in spec["data"][1:])} >= {"safe", "unsafe"}
    at.multiselect(key="explore_highlight").set_value([picked[0]]).run()
    spec = spec_of(at)
    assert [t["type"] for t in spec["data"]] == ["histogram2dcontour", "scatter"]
    at.radio(key="explore_draw").set_value("Every path").run()
    assert "histogram2dcontour" not in [t["type"] for t in spec_of(at)["data"]]


def test_a_finished_background_fit_missing_from_the_cache_is_fitted_again(
    app_env, tiny_model, run_page, monkeypatch
):
    """A background entry that finished but whose map is not in this manager (another home, evicted) must
    not make the page rerun forever: it is fitted again."""
    from core.explore import projection
    from core.explore.background import background_fits

    monkeypatch.setattr(projection, "_staged_umap_class", lambda: _FastUMAP)
    monkeypatch.setattr(projection, "_warm_up", lambda config, approximate: None)
    fill_store(tiny_model, n=8)
    at = run_page(PAGE)
    assert not at.exception and not at.error, [e.value for e in at.error]
    for job in list(background_fits()._jobs.values()):
        job.wait(10)
    projection.default_manager()._mem.clear()  # the fitted map is gone from memory ...
    for p in projection.default_manager().root.glob("*"):
        p.unlink()  # ... and from disk
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
