"""The live app in headless Chromium: Explore and Trace render plotly charts with the expected traces,
and the page fetches nothing from outside localhost (plotly and fonts are served by Streamlit itself).

Screenshots and DOM dumps go to tests/artifacts/ (gitignored)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from core.capture.store import ActivationStore
from tests.app.browser_cdp import Browser, find_chromium, live_streamlit, require_chromium
from tests.app.explorer_fixtures import PROMPTS, fill_store

pytestmark = pytest.mark.app
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = find_chromium()
PLOT_JS = """(() => { const p = document.querySelector('.js-plotly-plot');
  if (!p || !p.data) return null;
  return {traces: p.data.length, types: p.data.map(t => t.type),
          scatter_groups: p.querySelectorAll('.scatterlayer .trace').length,
          heatmaps: p.querySelectorAll('.heatmaplayer .hm').length,
          token_spans: document.querySelectorAll('span[title^="#"]').length}; })()"""
requests_seen: list[str] = []  # filled by the page tests, checked by the offline test
doms_seen: list[str] = []


@pytest.fixture(scope="module")
def live_app(tmp_path_factory, tiny_model, tiny_model_dir):
    require_chromium()
    home = tmp_path_factory.mktemp("browser-home")
    keys = fill_store(tiny_model, store=ActivationStore(home / "store"))
    env = {k: v for k, v in os.environ.items() if k not in ("REASONSCOPE_STORE", "REASONSCOPE_DB")}
    env.update(REASONSCOPE_HOME=str(home), REASONSCOPE_MODEL=str(tiny_model_dir))
    with live_streamlit(home, env, REPO) as base, Browser(CHROMIUM) as browser:
        yield base, keys, browser


def _external(urls: list[str]) -> list[str]:
    out = []
    for u in urls:
        p = urlparse(u)
        if p.scheme in ("data", "blob", "about", "chrome-extension"):
            continue
        if p.hostname not in ("127.0.0.1", "localhost"):
            out.append(u)
    return out


def _dom_assets(dom: str) -> list[str]:
    """URLs of scripts, stylesheets, icons, images and frames referenced by the DOM."""
    return re.findall(r'<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)="(https?://[^"]+)"', dom)


def test_explore_shows_layer_paths_one_trace_per_label(live_app):
    base, keys, browser = live_app
    page = browser.open(f"{base}/explore")
    # the PCA map comes at once; the UMAP fit runs in the background (numba compiles on the server's first
    # fit, ≈15-40 s on a shared CPU) and the page reruns with it: wait for the UMAP map, not the first one
    page.wait_for("(document.body && document.body.innerText.includes('UMAP fitted'))", timeout=300, settle=1)
    info = page.wait_for(PLOT_JS, timeout=60, settle=2)
    n_labels = len({label for _, label in PROMPTS[: len(keys)]})
    assert info["traces"] == n_labels == 4 and info["scatter_groups"] == 4, info
    time.sleep(1)
    page.screenshot(ARTIFACTS / "browser_explore.png")
    dom = page.dom()
    (ARTIFACTS / "browser_explore.html").write_text(dom)
    assert "8 trajectories" in dom and "UMAP fitted" in dom
    doms_seen.append(dom)
    requests_seen.extend(page.requests)
    page.close()


UNSAFE_COLOUR_JS = """(() => { const p = document.querySelector('.js-plotly-plot');
  if (!p || !p._fullData) return null;
  const t = p._fullData.find(d => (d.name || '').startsWith('unsafe'));
  return t ? {name: t.name, colour: t.marker.color} : null; })()"""
CLICK_LABEL_JS = """((text) => { const l = Array.from(document.querySelectorAll('label'))
  .find(x => x.innerText.trim().startsWith(text)); if (l) { l.click(); return true; } return false; })"""
# tick a Streamlit checkbox by its text until its input reads checked (react-aria ignores a synthetic click on
# the label; the input's own click toggles it; a click during a rerun is lost, so retry)
TICK_JS = """((text) => { const c = Array.from(document.querySelectorAll('[data-testid="stCheckbox"]'))
  .find(x => x.innerText.trim().startsWith(text)); if (!c) return false;
  const box = c.querySelector('input[type=checkbox]'); if (box && box.checked) return true;
  (box || c.querySelector('label')).click(); return false; })"""
# plotly.js's own resolved scale of the axis-coloured markers (what it paints), with the unsafe keys' values
AXIS_COLOUR_JS = """((unsafe) => { const p = document.querySelector('.js-plotly-plot');
  if (!p || !p._fullData) return null;
  const t = p._fullData.find(d => d.marker && Array.isArray(d.marker.colorscale) && d.marker.showscale);
  if (!t) return null;
  const vals = [];
  for (let i = 0; i < t.customdata.length; i++) {
    if (unsafe.includes(t.customdata[i]) && Number.isFinite(t.marker.color[i])) vals.push(t.marker.color[i]);
  }
  return {scale: t.marker.colorscale, cmin: t.marker.cmin, cmax: t.marker.cmax, unsafe_values: vals}; })"""


def _rgb(colour: str) -> tuple[int, int, int]:
    """``#rrggbb`` or ``rgb(r, g, b)`` (how plotly.js reports it) as integers."""
    if colour.startswith("#"):
        return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return tuple(int(float(x)) for x in re.findall(r"[\d.]+", colour)[:3])


def test_explore_paints_a_known_unsafe_point_in_the_unsafe_colour(live_app):
    """The colour plotly.js resolves for an unsafe trajectory: by label, and on the safe → unsafe axis (the
    scatter once got a colour-scale name plotly.js reads reversed, painting unsafe points blue)."""
    from core.explore.palette import SAFE, UNSAFE

    base, keys, browser = live_app
    unsafe_keys = [k for k, (_, label) in zip(keys, PROMPTS, strict=False) if label == "unsafe"]
    page = browser.open(f"{base}/explore")
    got = page.wait_for(UNSAFE_COLOUR_JS, timeout=300, settle=2)
    assert _rgb(got["colour"]) == _rgb(UNSAFE), got
    assert page.eval(f"{CLICK_LABEL_JS}('safe → unsafe axis')"), "no 'safe → unsafe axis' radio"
    deadline = time.time() + 120
    axis = None
    while time.time() < deadline and axis is None:
        time.sleep(2)  # a rerun's worth: a second click before it lands would untick the box again
        # the checkbox is there only when the axis is unreliable (the tiny model's): tick it, and keep it
        page.eval(f"{TICK_JS}('Colour with it anyway')")
        axis = page.eval(f"{AXIS_COLOUR_JS}({json.dumps(unsafe_keys)})")
    page.screenshot(ARTIFACTS / "browser_explore_axis.png")
    assert axis is not None, "the map was not coloured by the safe → unsafe axis"
    top, bottom = axis["scale"][-1][1], axis["scale"][0][1]
    assert _rgb(top) == _rgb(UNSAFE) and _rgb(bottom) == _rgb(SAFE), axis["scale"]
    # unsafe trajectories sit on the unsafe side: their mean is the unsafe end of the axis (+1 or P > 0.5)
    values = axis["unsafe_values"]
    mid = (axis["cmin"] + axis["cmax"]) / 2
    assert values and sum(values) / len(values) > mid, axis
    requests_seen.extend(page.requests)
    page.close()


def test_trace_shows_heatmap_and_coloured_tokens(live_app):
    base, keys, browser = live_app
    page = browser.open(f"{base}/trace?key={keys[0]}")
    info = page.wait_for(PLOT_JS, timeout=180, settle=2)
    # the heatmap, plus a scatter of crosses when some tokens lie beyond the colour range (outliers)
    assert (
        info["types"][0] == "heatmap" and set(info["types"][1:]) <= {"scatter"} and info["heatmaps"] == 1
    ), info
    assert info["token_spans"] > 10  # one hover-titled span per token
    page.screenshot(ARTIFACTS / "browser_trace.png")
    dom = page.dom()
    (ARTIFACTS / "browser_trace.html").write_text(dom)
    assert "How do I bake bread?" in dom
    doms_seen.append(dom)
    requests_seen.extend(page.requests)
    page.close()


PAGE_CHECK_JS = """(() => { const h = document.querySelector('h1');
  // still running (the model loads behind a cache spinner that appears a moment after the title)
  if (document.querySelector('[data-testid="stSpinner"], [data-testid="stStatusWidget"]')) return null;
  return h ? {title: h.innerText, errors: document.querySelectorAll('[data-testid="stException"]').length,
             alerts: Array.from(document.querySelectorAll('[data-testid="stAlert"]'))
                       .map(a => a.innerText)} : null;
  })()"""


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("", "ReasonScope"),
        ("label", "Label"),
        ("probes", "Probes"),
        ("steer", "Steer"),
        ("jobs", "Jobs"),
        ("audit", "Audit"),
    ],
)
def test_every_page_renders_without_errors(live_app, path, title):
    """What a first-time visitor sees on each remaining page: its title and no exception box."""
    base, _, browser = live_app
    page = browser.open(f"{base}/{path}")
    info = page.wait_for(PAGE_CHECK_JS, timeout=180, settle=3)
    info = page.wait_for(PAGE_CHECK_JS, timeout=180, settle=1)  # twice: idle, not between two reruns
    assert title in info["title"], info
    assert info["errors"] == 0, info
    page.screenshot(ARTIFACTS / f"browser_page_{path or 'home'}.png")
    requests_seen.extend(page.requests)
    page.close()


def test_pages_fetch_nothing_outside_localhost(live_app):
    if not requests_seen:
        pytest.skip("run together with the page tests above (they record the requests)")
    assert any(
        "plotly" in u or "/static/js/" in u for u in requests_seen
    )  # plotly comes from streamlit itself
    external = sorted(
        set(_external(requests_seen) + [u for d in doms_seen for u in _external(_dom_assets(d))])
    )
    assert not external, (
        f"the app fetched {external}: it must work air-gapped. A `page_icon=':material/...'` in "
        "st.set_page_config makes the browser load the favicon from fonts.gstatic.com; use an emoji or a "
        "local image file instead."
    )
