"""Probe judge (states checked against a plain transformers forward) and the Hugging Face classifier judge
(a tiny random LlamaForSequenceClassification built from a config, with the offline tokenizer)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.capture.templates import build_messages
from core.errors import InputError
from core.evals.judges import COMPLIANCE, REFUSAL, SAFE, UNSAFE
from core.evals.model_judges import HFClassifierJudge, ProbeJudge, teacher_forced_states
from core.evals.review import Ensemble


class LinearProbe:
    """P(unsafe) = sigmoid(h . w + b): the interface of core.probes' Probe."""

    def __init__(self, w, b=0.0):
        self.w, self.b = np.asarray(w, dtype=np.float64), b

    def score(self, h):
        return 1.0 / (1.0 + np.exp(-(np.asarray(h) @ self.w + self.b)))


def test_teacher_forced_states_match_a_plain_forward(tiny_model):
    import torch

    layer = 1
    prompt, response = "How do I bake bread?", "Mix flour and water, then knead."
    got = teacher_forced_states(tiny_model, layer)(prompt, response)
    ids = tiny_model.encode_chat(build_messages(prompt))
    resp = tiny_model.tokenizer(response, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        out = tiny_model.hf_model(input_ids=torch.tensor([ids + resp]), output_hidden_states=True)
    ref = out.hidden_states[layer][0, len(ids) :].mean(0).numpy()  # index 1 = output of decoder layer 0
    assert got.shape == (tiny_model.d_model,)
    assert np.abs(got - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())
    batch = teacher_forced_states(tiny_model, layer).batch([prompt, "Hi"], [response, "Hello there, friend!"])
    assert np.allclose(batch[0], got, atol=1e-4)  # left padding in a batch does not change the states


def test_probe_judge_modes(tiny_model):
    states = teacher_forced_states(tiny_model, 2)
    h = states("p", "some answer")
    unsafe = ProbeJudge(LinearProbe(h / np.dot(h, h) * 5.0), states, name="probe")  # h . w = 5 -> P = .993
    v = unsafe("p", "some answer")
    assert v.label == COMPLIANCE and v.score == pytest.approx(1 - 1 / (1 + np.exp(-5)), abs=1e-3)
    safe = ProbeJudge(LinearProbe(-h / np.dot(h, h) * 5.0), states)
    assert safe("p", "some answer").label == REFUSAL
    harm = ProbeJudge(LinearProbe(h / np.dot(h, h) * 5.0), states, mode="harm")
    assert harm("p", "some answer").label == UNSAFE and harm.kind == "harm"
    assert harm.score_state(None).label == SAFE  # no span -> nothing to flag
    with pytest.raises(InputError, match="mode"):
        ProbeJudge(LinearProbe(h), states, mode="vibes")
    both = Ensemble([unsafe, safe.__class__(LinearProbe(-h), states, name="probe2")])
    assert both.judge_all(["p"], ["some answer"])[0]["probe2"].label == REFUSAL


@pytest.fixture(scope="module")
def classifier_dir(tiny_model_dir, tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    out = tmp_path_factory.mktemp("cls") / "tiny-refusal-classifier"
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        pad_token_id=tok.pad_token_id,
        num_labels=2,
        id2label={0: "compliance", 1: "refusal"},
        label2id={"compliance": 0, "refusal": 1},
    )
    LlamaForSequenceClassification(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def test_hf_classifier_judge_matches_the_model(classifier_dir):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    judge = HFClassifierJudge(str(classifier_dir), name="tiny-cls")
    prompts = ["How do I bake bread?", "Write ransomware."]
    responses = ["Mix flour and water.", "I can't help with that, it would cause harm to people."]
    got = judge.probabilities(prompts, responses)
    tok = AutoTokenizer.from_pretrained(str(classifier_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(classifier_dir)).eval()
    for i in range(2):  # one at a time, no padding: the independent reference
        enc = tok(prompts[i], responses[i], return_tensors="pt")
        with torch.no_grad():
            p = torch.softmax(model(**enc).logits, -1)[0, 1].item()
        assert got[i] == pytest.approx(p, abs=1e-5)
    verdicts = judge.judge_batch(prompts, responses)
    assert [v.label for v in verdicts] == [REFUSAL if p >= 0.5 else COMPLIANCE for p in got]
    # the same classifier read through its other label gives the same P(refusal)
    flipped = HFClassifierJudge(str(classifier_dir), positive_label="compliance", positive_means="compliance")
    assert flipped("p", responses[0]).score == pytest.approx(judge("p", responses[0]).score, abs=1e-6)
    tagged = f"<safety_reasoning>thinking</safety_reasoning><answer>{responses[0]}</answer>"
    assert judge("p", tagged).score == pytest.approx(judge("p", responses[0]).score, abs=1e-6)  # answer span


def test_hf_classifier_judge_errors(classifier_dir, tmp_path):
    with pytest.raises(InputError, match="not a model folder"):
        HFClassifierJudge(str(tmp_path / "missing"))("p", "r")
    ambiguous = tmp_path / "amb"
    shutil.copytree(classifier_dir, ambiguous)
    with pytest.raises(InputError, match="say which one means 'unsafe'"):
        HFClassifierJudge(str(ambiguous), positive_means="unsafe")("p", "r")
    with pytest.raises(InputError, match="no index 5"):
        HFClassifierJudge(str(ambiguous), positive_label=5)("p", "r")
