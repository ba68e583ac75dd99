"""Steer page widgets: choose a steering vector (probe / difference in means / saved / upload) and combine it,
say how to apply it, compare baseline and steered answers, sweep α. Choices come from core.steer.controls,
text inputs are parsed by core.steer.alphas; the session keeps results through app.state."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from app import probe_widgets as pw
from app import state
from app.explorer_widgets import progress_callback
from app.helpers_steer import (
    RELATIVE,
    UNITS,
    Strength,
    default_sweep_text,
    describe_vector,
    diff_html,
    sweep_alphas,
    sweep_rows,
    sweep_series,
)
from core.capture.templates import TEMPLATES, build_messages
from core.capture.trajectory import GenerationSettings
from core.jobs.eta import Eta
from core.probes.artefacts import list_artefacts, load_probe_set
from core.probes.views import default_kinds, item_kinds
from core.steer.alphas import sweep_inputs
from core.steer.controls import (
    STEER_METHODS,
    STEER_POSITIONS,
    alpha_label,
    default_target_layers,
    source_layer_options,
)
from core.steer.interventions import SteeringConfig, compare, make_interventions, resolve_directions
from core.steer.sweep import sweep, sweep_units
from core.steer.units import (
    CONVERTIBLE,
    DEFAULT_MULTIPLE,
    alpha_from_multiple,
    describe_strength,
    diff_stats,
    residual_norms,
    word_diff,
)
from core.steer.vectors import (
    SteeringVector,
    from_diff_in_means,
    from_probe_set,
    load_vector,
    load_vector_file,
    save_vector,
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
                st.info(
                    "No saved probe set for this model — train and save one on **Probes**, or use difference "
                    "in means."
                )
                return None
            ps = load_probe_set(
                st.selectbox("Probe set", names, key="steer_probe"),
                fingerprint=model.fingerprint,
                model_name=model.name,
            )
            layer = st.select_slider(
                "Layer of the direction",
                options=list(ps.layers),
                value=ps.best_layer,
                key="steer_probe_layer",
            )
            return from_probe_set(ps, layers=[layer])
        if src == VECTOR_SOURCES[1]:
            return _diff_in_means(model)
        if src == VECTOR_SOURCES[2]:
            names = _saved(model, "steering_vector")
            if not names:
                st.info("No saved vector for this model yet — build one here and use **Save this vector**.")
                return None
            return load_vector(
                st.selectbox("Vector", names, key="steer_saved"),
                fingerprint=model.fingerprint,
                model_name=model.name,
            )
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
    positions = pw.positions_select(c[0], "steer_dim_pos")
    kinds = item_kinds(items)
    chosen = c[1].multiselect(
        "Item kinds (empty = all)", kinds, default=default_kinds(kinds), key="steer_dim_kinds"
    )
    system = st.text_input("System prompt while capturing (optional)", key="steer_dim_system")
    key = (ds_name, positions, tuple(chosen), system, model.fingerprint)
    vec = state.get_diff_means_vector(key)
    if c[2].button("Compute", key="steer_dim_go") or vec is not None:
        if vec is None:
            bar = st.progress(0.0, text="Capturing…")
            req = ProbeRequest(positions=positions, kinds=chosen or None, system=system.strip() or None)
            fs = pw.features(model, picked, req, bar)
            vec = from_diff_in_means(
                fs.train,
                fs.y_train,
                fs.layers,
                name=f"diff-means:{ds_name}",
                model_fingerprint=model.fingerprint,
                default_layer=model.n_layers // 2,
            )
            state.set_diff_means_vector(key, vec)
            bar.empty()
        layer = st.select_slider(
            "Layer of the direction (mean(unsafe) − mean(safe) there)",
            options=list(vec.layers),
            value=vec.default_layer,
            key="steer_dim_layer",
        )
        return SteeringVector(
            {layer: vec.at(layer)},
            name=vec.name + f"@L{layer}",
            source="diff_means",
            model_fingerprint=model.fingerprint,
            default_layer=layer,
            meta={"dataset": ds_name, "positions": positions},
        )
    st.info(
        "Press **Compute** to take mean(unsafe) − mean(safe) of the dataset's training items at every layer."
    )
    return None


def _upload(model: Any) -> SteeringVector | None:
    up = st.file_uploader("Vector file", type=["safetensors", "npy"], key="steer_upload")
    layer = st.number_input(
        "Layer for a single [d] vector", 0, model.n_layers, model.n_layers // 2, key="steer_upload_layer"
    )
    if up is None:
        st.info(
            f"Upload a `.npy` array of shape [{model.d_model}] or [{model.n_layers + 1}, {model.d_model}], "
            "or a `.safetensors` file with tensors `layer<i>` (numpy files are read without pickle)."
        )
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
        coef = st.number_input(
            "Coefficient of the saved vector (negative = subtract)",
            value=1.0,
            step=0.5,
            key="steer_other_coef",
            disabled=other == "(none)",
        )
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


@dataclass(frozen=True)
class Steering:
    """How the vector is applied, and the description of the directions actually applied."""

    config: SteeringConfig
    description: str
    strength: Strength | None = None  # how α relates to the residual norm (None: ablate, or not measured)


def vector_summary(vec: SteeringVector) -> None:
    """The chosen vector in one line, and a form to save it."""
    st.caption(describe_vector(vec))
    with st.expander("Save this vector"):
        c = st.columns([3, 1])
        vname = c[0].text_input("Name", value="steering-vector", key="steer_save_name")
        if c[1].button("Save vector", key="steer_save"):
            try:
                st.success(f"Saved to `{save_vector(vec, vname, overwrite=True)}`")
            except Exception as exc:  # noqa: BLE001
                state.show_error(exc)


def apply_panel(model: Any, vec: SteeringVector) -> Steering | None:
    """Method, α, positions, target (and source) layers; shows what is applied. None after showing an
    error."""
    c = st.columns([1, 1, 1, 1])
    method = c[0].radio(
        "Method",
        list(STEER_METHODS),
        key="steer_method",
        help="add: activation addition at the chosen layers; ablate: remove the direction; cap: limit it",
    )
    positions = c[2].radio("Positions", list(STEER_POSITIONS), key="steer_positions")
    layers = c[3].multiselect(
        "Layers (empty = default)",
        list(range(model.n_layers + 1)),
        default=default_target_layers(vec, method, model.n_layers),
        key=f"steer_layers_{method}",
        help="Default: add → the vector's layer; ablate / cap → every layer",
    )
    source = None
    sources = source_layer_options(vec, method)
    if sources is not None:
        options, index = sources
        source = st.selectbox(
            "Direction from layer (used at every target layer)", options, index=index, key="steer_source"
        )
    try:
        unit_config = SteeringConfig(
            method=method, alpha=1.0, layers=layers or None, positions=positions, source_layer=source
        )
        strength = _strength(model, vec, unit_config, c[1]) if method in CONVERTIBLE else None
        if strength is not None and strength.units == RELATIVE:
            multiple = c[1].number_input(
                f"Strength (× mean ‖h‖) — {alpha_label(method)}",
                value=DEFAULT_MULTIPLE,
                step=0.05,
                min_value=-100.0,
                max_value=100.0,
                key=f"steer_multiple_{method}",
                help="add: the shift ‖α·v‖ as a multiple of the mean residual norm at the target layer(s); "
                "cap: the cap as a multiple of it. The absolute α is shown below.",
            )
            alpha = alpha_from_multiple(multiple, method, strength.norm, strength.vector_norm)
        else:
            alpha = c[1].number_input(alpha_label(method), value=1.0, step=0.5, key="steer_alpha")
        config = unit_config.with_alpha(float(alpha))
        make_interventions(vec, config, model)
        applied = resolve_directions(vec, config, model.n_layers)
    except Exception as exc:  # noqa: BLE001
        state.show_error(exc)
        return None
    st.info(f"**Applied:** {config.describe(applied)}")
    if strength is not None:
        st.caption(
            describe_strength(config.alpha, method, strength.norm, strength.vector_norm, strength.layers)
            + f" · norm measured on {strength.source}"
        )
    return Steering(config, config.describe(applied), strength)


def _strength(model: Any, vec: SteeringVector, unit_config: SteeringConfig, where: Any) -> Strength:
    """How α relates to the residual stream at the target layers (mean norm measured once per model and
    session: stored trajectories of the model, else a captured reference prompt)."""
    units = where.radio("α in", UNITS, horizontal=True, key="steer_alpha_units")
    norms = state.get_residual_norms(model.fingerprint)
    if norms is None:
        with st.spinner("Measuring the mean residual norm of this model…"):
            norms = residual_norms(model, state.get_store())
        state.set_residual_norms(model.fingerprint, norms)
    dirs = resolve_directions(vec, unit_config, model.n_layers)
    return Strength.of(norms, dirs, units)


def compare_panel(model: Any, vec: SteeringVector, steering: Steering) -> None:
    """One prompt, baseline and steered answers side by side (same settings and seed)."""
    with st.form("steer_form"):
        prompt = st.text_area("Prompt", key="steer_prompt", placeholder="e.g. How do I bake bread at home?")
        c = st.columns(4)
        template = c[0].selectbox(
            "Template", list(TEMPLATES), format_func=lambda k: TEMPLATES[k].label, key="steer_tmpl"
        )
        max_new = c[1].number_input("Max new tokens", 1, 512, 48, key="steer_max_new")
        seed = c[2].number_input("Seed", 0, 2**31 - 1, 0, key="steer_seed")
        sample = c[3].checkbox("Sample (else greedy)", key="steer_sample")
        go = st.form_submit_button("Generate both", type="primary")
    if go:
        try:
            settings = GenerationSettings(
                max_new_tokens=int(max_new), seed=int(seed), do_sample=sample, temperature=0.7
            )
            with st.spinner("Generating baseline and steered answers…"):
                base, steered = compare(
                    model, [build_messages(prompt, template=template)], vec, steering.config, settings
                )[0]
            state.set_steer_pair(prompt, base, steered, steering.description, int(seed))
        except Exception as exc:  # noqa: BLE001
            state.show_error(exc)
    pair = state.get_steer_pair()
    if pair is None:
        st.info(
            "Type a prompt and press **Generate both** to see the baseline and the steered answer "
            "side by side."
        )
        return
    p, base, steered, desc, s = pair
    ops = word_diff(base, steered)
    c = st.columns(2)
    with c[0].container(border=True):
        st.markdown("**Baseline**")
        st.html(diff_html(ops, "baseline"))
    with c[1].container(border=True):
        st.markdown("**Steered**")
        st.html(diff_html(ops, "steered"))
    n = diff_stats(ops)
    st.caption(
        f"Prompt: {p!r} · seed {s} · {desc} · words: {n['same']} same, {n['delete']} removed "
        f"(struck through), {n['insert']} added (highlighted)"
    )


def sweep_panel(model: Any, vec: SteeringVector, steering: Steering) -> None:
    """Refusal rate (keyword scorer) and harmless KL for a list of α values."""
    with st.form("steer_sweep_form"):
        c = st.columns([3, 2, 1])
        prompts_text = c[0].text_area(
            "Prompts (one per line) whose refusal rate is measured", key="steer_sweep_prompts", height=120
        )
        harmless_text = c[1].text_area(
            "Harmless prompts for the KL estimate (optional)", key="steer_sweep_harmless", height=120
        )
        alphas_text = c[2].text_input(
            "α values" + (" (× mean ‖h‖)" if _relative(steering) else ""),
            value=default_sweep_text(steering.strength),
            key="steer_sweep_alphas",
            help="In the units chosen above; the default range spans 0 to 1 × the mean residual norm.",
        )
        n_tok = c[2].number_input("Tokens", 1, 256, 32, key="steer_sweep_tokens")
        run_sweep = st.form_submit_button("Run sweep")
    if run_sweep:
        try:
            inputs = sweep_inputs(prompts_text, harmless_text, alphas_text)
            update, clear = progress_callback("Sweeping, one run per prompt × α:", unit="runs")
            runs = sweep_units(len(inputs.chats), len(inputs.harmless or []), len(inputs.alphas))
            eta = Eta(total=runs, unit="prompt × α runs")
            pts = sweep(
                model,
                inputs.chats,
                vec,
                steering.config,
                sweep_alphas(inputs.alphas, steering.config.method, steering.strength),
                GenerationSettings(max_new_tokens=int(n_tok)),
                harmless=inputs.harmless,
                progress=update,
            )
            clear()
            state.set_steer_sweep(pts)
            st.caption(f"Sweep: {eta.text(runs)}.")
        except Exception as exc:  # noqa: BLE001
            state.show_error(exc)
    pts = state.get_steer_sweep()
    if not pts:
        return
    st.plotly_chart(pw.sweep_figure(*sweep_series(pts)), key="steer_sweep_chart")
    st.caption(
        "Refusal = a keyword scorer (phrases like “I'm sorry”, “I can't”, “As an AI”): transparent but "
        "crude. KL = mean KL(baseline ‖ steered) of next-token distributions on the harmless prompts."
    )
    st.dataframe(sweep_rows(pts, steering.config.method, steering.strength), hide_index=True)


def _relative(steering: Steering) -> bool:
    return steering.strength is not None and steering.strength.units == RELATIVE
