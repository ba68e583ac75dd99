"""The six steps: a title, one plain sentence, a "what am I looking at?" explainer and where the full page is.

Shared by the Story page and the offline export, so both tell the same story. The sentences hold no numbers:
numbers are read from the artefacts (``core.story.read``) and shown beside them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Step:
    key: str
    title: str
    sentence: str
    explainer: str
    page: str  # the app page with the same data ("open this in the full page")
    link_label: str


STEPS: tuple[Step, ...] = (
    Step(
        key="complies",
        title="1 · The model complies",
        sentence="Asked for something harmful, the base model simply answers — just as it answers a harmless "
        "request of the same shape.",
        explainer="Two prompts from the alignment run's validation audit: a harmful request and its benign "
        "counterpart. The answers are the base model's own greedy answers, as the audit recorded and judged "
        "them (the label is the audit's verdict).",
        page="audit",
        link_label="Open the audit records",
    ),
    Step(
        key="knows",
        title="2 · …but inside, it knows",
        sentence="A simple linear probe reads the hidden states and lights up on the harmful prompt, not on "
        "the benign one.",
        explainer="Each cell is the saved probe's P(unsafe) for one token (columns) at one layer (rows), on "
        "the end of the two prompts of step 1, under the chat template the probe was trained with. The probe "
        "was trained on the mean state of the tokens right of the black line (the template tokens after the "
        "request, before the answer); single tokens are noisy, so the READ column is what it decides on: "
        "P(unsafe) of that mean, per layer. Right: how well a probe at each layer separates harmful from "
        "benign prompts (cross-validated on train, and on the validation split; 0.5 is chance), with the "
        "layer the probe uses marked.",
        page="probes",
        link_label="Open the probe",
    ),
    Step(
        key="guard",
        title="3 · A one-line guard",
        sentence="Watching that probe while the model generates flags the harmful request before the answer "
        "starts — and a guard can stop it there.",
        explainer="Before the answer starts, the probe's read of the prompt (step 2's READ column at its "
        "layer) is compared with its operating threshold (the dashed line; set so at most 5 % of benign "
        "training prompts are flagged). While the model answers, the live monitor scores every new token's "
        "state with the same probe. Left answer: no guard. Right answer: the same generation with the guard "
        "that stops at the first answer token over the threshold (the dotted line).",
        page="steer",
        link_label="Open the live monitor",
    ),
    Step(
        key="training",
        title="4 · We changed it",
        sentence="A short alignment run on a CPU teaches the model to refuse harmful requests.",
        explainer="Curves from the alignment job's own event log, step by step: the loss, the share of a "
        "held-out batch of training-set prompts (never trained on, never validation) refused when harmful "
        "and when benign (over-refusal), and the GRPO reward. A run starts with a supervised warm start and "
        "then runs GRPO; the dotted line marks where GRPO begins. Hover a panel for the logged metric.",
        page="jobs",
        link_label="Open the job",
    ),
    Step(
        key="proof",
        title="5 · The proof",
        sentence="On prompts it never trained on, the tuned model refuses far more harmful requests, and we "
        "measure what that costs on benign ones.",
        explainer="Base vs tuned on the validation split, with 95 % Wilson intervals; Δ and p come from the "
        "paired exact McNemar test on the same items. 'States knew' splits harmful prompts by whether the "
        "base model's probe flagged them. Below: three harmful prompts, answered before and after.",
        page="audit",
        link_label="Open the audit scorecard",
    ),
    Step(
        key="moved",
        title="6 · What moved inside",
        sentence="Training moved the hidden states, layer by layer: the same prompts now take a different "
        "path through the model.",
        explainer="Left: per layer, how far the tuned model's states moved from the base model's on the same "
        "prompts (cosine distance, harmful and benign). Right: one 2-D map (PCA) of the layer-by-layer "
        "states of the same prompts, base and tuned — each line runs from the first layer to the last.",
        page="audit",
        link_label="Open the representation diff",
    ),
)
