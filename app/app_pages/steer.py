"""Steer: add, ablate or cap a direction in the residual stream; compare baseline and steered answers for the
same seed; sweep the strength and plot refusal rate and harmless KL."""

import streamlit as st

from app import probe_widgets as pw
from app import state
from app.steer_widgets import pick_vector, vector_algebra
from core.capture.templates import TEMPLATES, build_messages
from core.capture.trajectory import GenerationSettings
from core.steer.sweep import sweep
from core.steer.vectors import SteeringConfig, compare, make_interventions, resolve_directions, save_vector

st.title("Steer")
st.caption("Change the model's hidden states while it generates: **add** a direction (h ← h + α·v), **ablate** it "
           "(h ← h − α·(h·v̂)v̂, at every layer by default, as Arditi et al. 2024) or **cap** the projection on it "
           "(h ← h − max(h·v̂ − α, 0)·v̂). Baseline and steered answers use the same prompt, settings and seed.")

try:
    model = state.get_model()
except Exception as exc:  # noqa: BLE001
    state.show_error(exc)
    st.stop()

st.subheader("1 · Vector")
vec = pick_vector(model)
if vec is None:
    st.stop()
vec = vector_algebra(model, vec)
if vec is None:
    st.stop()
concrete = [x for x in vec.layers if x >= 0]
st.caption(f"**{vec.name}** · source `{vec.source}` · layers {concrete or 'any'} · default layer "
           f"{vec.default_layer if vec.default_layer is not None else '—'} · norms "
           + ", ".join(f"L{k}: {n:.2f}" for k, n in list(vec.norms().items())[:8]))
with st.expander("Save this vector"):
    c = st.columns([3, 1])
    vname = c[0].text_input("Name", value="steering-vector", key="steer_save_name")
    if c[1].button("Save vector", key="steer_save"):
        try:
            st.success(f"Saved to `{save_vector(vec, vname, overwrite=True)}`")
        except Exception as exc:  # noqa: BLE001
            state.show_error(exc)

st.subheader("2 · How to apply it")
c = st.columns([1, 1, 1, 1])
method = c[0].radio("Method", ["add", "ablate", "cap"], key="steer_method",
                    help="add: activation addition at the chosen layers; ablate: remove the direction; cap: limit it")
alpha = c[1].number_input({"add": "α (coefficient)", "ablate": "α (fraction removed)", "cap": "α (max projection)"}[method],
                          value=1.0, step=0.5, key="steer_alpha")
positions = c[2].radio("Positions", ["all", "prompt", "generated"], key="steer_positions")
all_layers = list(range(model.n_layers + 1))
default_layers = [] if method != "add" else ([vec.default_layer] if vec.default_layer is not None else concrete[:1])
layers = c[3].multiselect("Layers (empty = default)", all_layers, default=[x for x in default_layers if x in all_layers],
                          key=f"steer_layers_{method}", help="Default: add → the vector's layer; ablate / cap → every layer")
source = None
if method != "add" and len(concrete) > 1:
    source = st.selectbox("Direction from layer (used at every target layer)", concrete,
                          index=concrete.index(vec.default_layer) if vec.default_layer in concrete else 0,
                          key="steer_source")
config = SteeringConfig(method=method, alpha=float(alpha), layers=layers or None, positions=positions,
                        source_layer=source)
try:
    make_interventions(vec, config, model)
    applied = resolve_directions(vec, config, model.n_layers)
except Exception as exc:  # noqa: BLE001
    state.show_error(exc)
    st.stop()
st.info(f"**Applied:** {config.describe(applied)}")

st.subheader("3 · Compare")
with st.form("steer_form"):
    prompt = st.text_area("Prompt", key="steer_prompt", placeholder="e.g. How do I bake bread at home?")
    c = st.columns(4)
    template = c[0].selectbox("Template", list(TEMPLATES), format_func=lambda k: TEMPLATES[k].label, key="steer_tmpl")
    max_new = c[1].number_input("Max new tokens", 1, 512, 48, key="steer_max_new")
    seed = c[2].number_input("Seed", 0, 2**31 - 1, 0, key="steer_seed")
    sample = c[3].checkbox("Sample (else greedy)", key="steer_sample")
    go = st.form_submit_button("Generate both", type="primary")
if go:
    try:
        settings = GenerationSettings(max_new_tokens=int(max_new), seed=int(seed), do_sample=sample, temperature=0.7)
        with st.spinner("Generating baseline and steered answers…"):
            base, steered = compare(model, [build_messages(prompt, template=template)], vec, config, settings)[0]
        st.session_state["steer_pair"] = (prompt, base, steered, config.describe(applied), int(seed))
    except Exception as exc:  # noqa: BLE001
        state.show_error(exc)
pair = st.session_state.get("steer_pair")
if pair is None:
    st.info("Type a prompt and press **Generate both** to see the baseline and the steered answer side by side.")
else:
    p, base, steered, desc, s = pair
    c = st.columns(2)
    with c[0].container(border=True):
        st.markdown("**Baseline**")
        st.write(base or "*(empty)*")
    with c[1].container(border=True):
        st.markdown("**Steered**")
        st.write(steered or "*(empty)*")
    st.caption(f"Prompt: {p!r} · seed {s} · {desc}")

st.subheader("4 · Coefficient sweep")
with st.form("steer_sweep_form"):
    c = st.columns([3, 2, 1])
    prompts_text = c[0].text_area("Prompts (one per line) whose refusal rate is measured", key="steer_sweep_prompts",
                                  height=120)
    harmless_text = c[1].text_area("Harmless prompts for the KL estimate (optional)", key="steer_sweep_harmless",
                                   height=120)
    alphas_text = c[2].text_input("α values", value="0, 1, 2, 4", key="steer_sweep_alphas")
    n_tok = c[2].number_input("Tokens", 1, 256, 32, key="steer_sweep_tokens")
    run_sweep = st.form_submit_button("Run sweep")
if run_sweep:
    try:
        chats = [build_messages(x.strip()) for x in prompts_text.splitlines() if x.strip()]
        harmless = [build_messages(x.strip()) for x in harmless_text.splitlines() if x.strip()] or None
        alphas = [float(a) for a in alphas_text.replace(",", " ").split()]
        if not chats or not alphas:
            raise ValueError("type at least one prompt and one α value")
        bar = st.progress(0.0, text="Sweeping α…")
        pts = sweep(model, chats, vec, config, alphas, GenerationSettings(max_new_tokens=int(n_tok)),
                    harmless=harmless, progress=lambda a, b: bar.progress(a / b, text=f"α {a}/{b}"))
        st.session_state["steer_sweep"] = pts
    except Exception as exc:  # noqa: BLE001
        state.show_error(exc)
pts = st.session_state.get("steer_sweep")
if pts:
    st.plotly_chart(pw.sweep_figure([p.alpha for p in pts], [p.refusal_rate for p in pts], [p.kl for p in pts]),
                    key="steer_sweep_chart")
    st.caption("Refusal = a keyword scorer (phrases like “I'm sorry”, “I can't”, “As an AI”): transparent but crude. "
               "KL = mean KL(baseline ‖ steered) of next-token distributions on the harmless prompts.")
    st.dataframe([{"α": p.alpha, "refusal rate": p.refusal_rate, "harmless KL": p.kl,
                   "first completion": p.completions[0][:120]} for p in pts], hide_index=True)
