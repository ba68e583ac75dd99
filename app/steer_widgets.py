"""Steer page widgets: choose a steering vector (probe / difference in means / saved / upload) and combine it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

from app import probe_widgets as pw
from app import state
from core.probes.artefacts import list_artefacts, load_probe_set
from core.probes.features import POSITION_HELP, POSITIONS
from core.steer.vectors import (
    SteeringVector,
    from_diff_in_means,
    from_probe_set,
    load_vector,
    load_vector_file,
)

VECTOR_SOURCES = ("Saved probe set", "Difference in means", "Saved vector", "Upload (.safetensors / .npy)")


def _saved(model: Any, kind: str) -> list[str]:
    return [a.name for a in list_artefacts(kind=kind) if a.model_fingerprint == model.fingerprint]


def pick_vector(model: Any) -> SteeringVector | None:
    """The chosen base vector, or None after showing what to do next."""
    src = st.radio("Source", VECTOR_SOURCES, key="steer_src", horizontal=True)
    try:
        if src == VECTOR_SOURCES[0]:
            names = _saved(model, "probe_set")
            if not names:
                st.info("No saved probe set for this model — train and save one on **Probes**, or use difference "
                        "in means.")
                return None
            ps = load_probe_set(st.selectbox("Probe set", names, key="steer_probe"), fingerprint=model.fingerprint,
                                model_name=model.name)
            layer = st.select_slider("Layer of the direction", options=list(ps.layers), value=ps.best_layer,
                                     key="steer_probe_layer")
            return from_probe_set(ps, layers=[layer])
        if src == VECTOR_SOURCES[1]:
            return _diff_in_means(model)
        if src == VECTOR_SOURCES[2]:
            names = _saved(model, "steering_vector")
            if not names:
                st.info("No saved vector for this model yet — build one here and use **Save this vector**.")
                return None
            return load_vector(st.selectbox("Vector", names, key="steer_saved"), fingerprint=model.fingerprint,
                               model_name=model.name)
        return _upload(model)
    except Exception as exc:  # noqa: BLE001
        state.show_error(exc)
        return None


def _diff_in_means(model: Any) -> SteeringVector | None:
    from core.probes.workflow import ProbeRequest

    picked = pw.dataset_picker("steer")
    if picked is None:
        return None
    ds_name, items = picked.name, picked.items or []
    c = st.columns([2, 2, 1])
    positions = c[0].selectbox("Positions", list(POSITIONS), index=POSITIONS.index("post_instruction"),
                               format_func=lambda p: f"{p} — {POSITION_HELP[p]}", key="steer_dim_pos")
    kinds = sorted({it.kind for it in items if it.kind})
    chosen = c[1].multiselect("Item kinds (empty = all)", kinds,
                              default=[k for k in ("harmful", "benign_counterpart") if k in kinds], key="steer_dim_kinds")
    system = st.text_input("System prompt while capturing (optional)", key="steer_dim_system")
    key = (ds_name, positions, tuple(chosen), system, model.fingerprint)
    if c[2].button("Compute", key="steer_dim_go") or st.session_state.get("steer_dim_key") == key:
        if st.session_state.get("steer_dim_key") != key:
            bar = st.progress(0.0, text="Capturing…")
            req = ProbeRequest(positions=positions, kinds=chosen or None, system=system.strip() or None)
            fs = pw.features(model, picked, req, bar)
            vec = from_diff_in_means(fs.train, fs.y_train, fs.layers, name=f"diff-means:{ds_name}",
                                     model_fingerprint=model.fingerprint, default_layer=model.n_layers // 2)
            st.session_state["steer_dim_key"], st.session_state["steer_dim_vec"] = key, vec
            bar.empty()
        vec = st.session_state["steer_dim_vec"]
        layer = st.select_slider("Layer of the direction (mean(unsafe) − mean(safe) there)", options=list(vec.layers),
                                 value=vec.default_layer, key="steer_dim_layer")
        return SteeringVector({layer: vec.at(layer)}, vec.name + f"@L{layer}", "diff_means", model.fingerprint, layer,
                              {"dataset": ds_name, "positions": positions})
    st.info("Press **Compute** to take mean(unsafe) − mean(safe) of the dataset's training items at every layer.")
    return None


def _upload(model: Any) -> SteeringVector | None:
    up = st.file_uploader("Vector file", type=["safetensors", "npy"], key="steer_upload")
    layer = st.number_input("Layer for a single [d] vector", 0, model.n_layers, model.n_layers // 2,
                            key="steer_upload_layer")
    if up is None:
        st.info(f"Upload a `.npy` array of shape [{model.d_model}] or [{model.n_layers + 1}, {model.d_model}], or a "
                "`.safetensors` file with tensors `layer<i>` (numpy files are read without pickle).")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(up.name).name
        path.write_bytes(up.getvalue())
        vec = load_vector_file(path, layer=int(layer), d_model=model.d_model, name=Path(up.name).stem)
    vec.check_model(model)
    return vec


def vector_algebra(model: Any, vec: SteeringVector) -> SteeringVector | None:
    """Optional: scale, negate, normalise, plus or minus a saved vector."""
    with st.expander("Vector algebra (scale, negate, normalise, combine)"):
        c = st.columns(4)
        negate = c[0].checkbox("Negate (−v)", key="steer_neg")
        unit = c[1].checkbox("Normalise to unit length", key="steer_unit")
        scale = c[2].number_input("Scale", value=1.0, step=0.5, key="steer_scale")
        others = _saved(model, "steering_vector")
        other = c[3].selectbox("± a saved vector", ["(none)", *others], key="steer_other")
        coef = st.number_input("Coefficient of the saved vector (negative = subtract)", value=1.0, step=0.5,
                               key="steer_other_coef", disabled=other == "(none)")
    try:
        out = vec.normalise() if unit else vec
        out = -out if negate else out
        out = float(scale) * out if scale != 1.0 else out
        if other != "(none)":
            out = out + float(coef) * load_vector(other, fingerprint=model.fingerprint, model_name=model.name)
        return out
    except Exception as exc:  # noqa: BLE001
        state.show_error(exc)
        return None
