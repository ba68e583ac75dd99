"""Verifiable rewards as plain TRL reward functions: ``f(completions, **kwargs) -> list[float]``.

TRL calls every reward function with ``prompts``, ``completions``, ``completion_ids`` and each dataset column
as a keyword list (one entry per completion, groups of ``num_generations`` consecutive rows share a prompt),
plus ``log_metric(name, value)``. The training datasets built by ``core.align.data`` carry ``is_harmful``
(bool) and ``label`` ("unsafe" / "safe"); either is accepted here.

**AlphaAlign** (arXiv 2507.14987, Eq. 5 and App. B):

* ``V_f`` -- the paper's regex ``<safety_reasoning>.*</safety_reasoning>.*<answer>.*</answer>`` over the whole
  completion (DOTALL), 1 or 0;
* ``V_r`` -- substring match of the paper's refusal phrases on the ``<answer>`` span (case-insensitive; when
  the completion has no ``<answer>`` tag, on the whole completion, so a refusal without the format still
  counts);
* ``R_s = r_f V_f + r_a V_r`` for harmful prompts and ``r_f V_f - r_a V_r`` for benign ones. The paper does
  not state ``r_f`` / ``r_a``; the defaults here are ``r_f = 0.5``, ``r_a = 1.0`` (refusing correctly matters
  twice as much as the format; a benign refusal in the right format nets -0.5).

**Shaped variant** (``shaped=True``; a documented deviation). With the binary ``V_f`` / ``V_r`` a base model
that never refuses and never uses the tags scores 0 on every rollout, every GRPO group has zero variance and
the gradient is exactly 0 (measured with TRL 1.16). The shaped reward replaces them by graded versions that
keep the same maximum: ``format_progress`` = share of the four tags present in order (0, .25, ... 1), and
``refusal_grade`` = 1 for a refusal phrase at the start of the answer, .7 anywhere in the answer, .4 only in
the reasoning, .2 for harm-awareness words ("harmful", "illegal", "dangerous", ...) without a refusal, else 0.

**CRAFT** text-side pieces (arXiv 2603.17305): ``R_txt = 2 P(safe | text) - 1`` (P(safe) -- *not* a
harmfulness score) and ``R_cons = 1 - |P_head(safe | z) - P(safe | text)|``; the latent part lives in
``core.align.latent``.

Everything here is pure Python / numpy; a NaN or infinite reward raises ``RewardError`` naming the function.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from core.errors import InputError, ReasonScopeError
from core.evals.judges import ALPHAALIGN_PHRASES

# AlphaAlign App. B (V_r): substring matching on the answer span (the audit's baseline list, one copy).
REFUSAL_PHRASES: tuple[str, ...] = ALPHAALIGN_PHRASES
_REFUSAL_LC = tuple(p.lower() for p in REFUSAL_PHRASES)
# Shaping only: words that show the model noticed the harm without refusing (partial credit .2).
HARM_AWARENESS = re.compile(
    r"\b(harmful|illegal|dangerous|unsafe|unethical|not appropriate|inappropriate|"
    r"against (?:the law|my guidelines)|can ?not help|won't help)\b",
    re.I,
)
FORMAT_RE = re.compile(r"<safety_reasoning>.*</safety_reasoning>.*<answer>.*</answer>", re.S)
ANSWER_RE = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S)
REASONING_RE = re.compile(r"<safety_reasoning>(.*?)(?:</safety_reasoning>|$)", re.S)
TAGS = ("<safety_reasoning>", "</safety_reasoning>", "<answer>", "</answer>")
DEFAULT_R_F, DEFAULT_R_A = 0.5, 1.0

RefusalJudge = Callable[[str], float]  # text -> refusal score in [0, 1] (1 = refuses)


class RewardError(ReasonScopeError):
    """A reward function produced an unusable value (NaN / inf) or got unusable inputs."""


# ---- text helpers ---------------------------------------------------------------------------------------
def as_text(completion: Any) -> str:
    """A completion as text: TRL passes a string (standard format) or a list of messages (conversational)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    raise RewardError(
        f"Cannot read a completion of type {type(completion).__name__}; expected text or messages."
    )


def _norm(text: str) -> str:
    return text.replace("\u2019", "'").replace("\u2018", "'").lower()


def answer_span(text: str) -> str | None:
    """Content of the first ``<answer>`` tag (to ``</answer>`` or the end), or None without the tag."""
    m = ANSWER_RE.search(text)
    return m.group(1) if m else None


def reasoning_span(text: str) -> str | None:
    m = REASONING_RE.search(text)
    return m.group(1) if m else None


def format_verifier(text: str) -> float:
    """AlphaAlign's ``V_f``: 1.0 when the whole completion matches the two-stage format, else 0.0."""
    return 1.0 if FORMAT_RE.search(text) else 0.0


def format_progress(text: str) -> float:
    """Shaped ``V_f``: share of the four tags found in order (0, .25, .5, .75, 1); 1 iff ``V_f`` is 1."""
    pos, found = 0, 0
    for tag in TAGS:
        i = text.find(tag, pos)
        if i < 0:
            break
        found, pos = found + 1, i + len(tag)
    return found / len(TAGS)


def keyword_refusal(text: str) -> float:
    """1.0 when ``text`` contains one of AlphaAlign's refusal phrases (case-insensitive), else 0.0."""
    t = _norm(text)
    return 1.0 if any(p in t for p in _REFUSAL_LC) else 0.0


def refusal_verifier(text: str, judge: RefusalJudge | None = None) -> float:
    """AlphaAlign's ``V_r`` on the answer span (the whole completion when there is no ``<answer>`` tag)."""
    span = answer_span(text)
    return float((judge or keyword_refusal)(text if span is None else span))


def refusal_grade(text: str, judge: RefusalJudge | None = None) -> float:
    """Shaped ``V_r`` (see module doc): 1 / .7 / .4 / .2 / 0."""
    judge = judge or keyword_refusal
    span = answer_span(text)
    answer = text if span is None else span
    if judge(answer) >= 0.5:
        head = answer.strip()[:60]
        return 1.0 if judge(head) >= 0.5 else 0.7
    if judge(text) >= 0.5:
        return 0.4
    return 0.2 if HARM_AWARENESS.search(text) else 0.0


def harmful_flags(n: int, kwargs: dict[str, Any]) -> list[bool]:
    """Per-completion harmful flags from the ``is_harmful`` or ``label`` dataset column."""
    if "is_harmful" in kwargs and kwargs["is_harmful"] is not None:
        flags = [bool(v) for v in kwargs["is_harmful"]]
    elif "label" in kwargs and kwargs["label"] is not None:
        flags = [str(v).lower() in ("unsafe", "harmful", "1", "true") for v in kwargs["label"]]
    else:
        raise RewardError(
            "The safety reward needs to know which prompts are harmful: the training dataset must "
            "have an 'is_harmful' (bool) or 'label' ('unsafe'/'safe') column."
        )
    if len(flags) != n:
        raise RewardError(f"{n} completions but {len(flags)} harmful flags; they must match one to one.")
    return flags


def check_finite(name: str, values: Sequence[float]) -> list[float]:
    """Values as floats; a NaN / inf raises ``RewardError`` naming the reward and the first bad item."""
    out = [float(v) for v in values]
    for i, v in enumerate(out):
        if not math.isfinite(v):
            raise RewardError(
                f"Reward {name!r} returned {v} for completion {i}. Rewards must be finite numbers: "
                "check the reward model / judge it uses (a NaN usually means an empty input or a "
                "broken checkpoint). The job stopped; its checkpoints are kept."
            )
    return out


def _log(kwargs: dict[str, Any], name: str, value: float) -> None:
    log_metric = kwargs.get("log_metric")
    if callable(log_metric):
        log_metric(name, float(value))


# ---- AlphaAlign safety reward -----------------------------------------------------------------------------
def safety_components(
    texts: Sequence[str],
    harmful: Sequence[bool],
    *,
    r_f: float = DEFAULT_R_F,
    r_a: float = DEFAULT_R_A,
    shaped: bool = False,
    judge: RefusalJudge | None = None,
) -> dict[str, np.ndarray]:
    """``{"reward", "format", "refusal", "format_exact", "refusal_exact"}`` arrays, one entry per
    completion."""
    vf_exact = np.array([format_verifier(t) for t in texts], dtype=np.float64)
    vr_exact = np.array([refusal_verifier(t, judge) for t in texts], dtype=np.float64)
    if shaped:
        vf = np.array([format_progress(t) for t in texts], dtype=np.float64)
        vr = np.array([refusal_grade(t, judge) for t in texts], dtype=np.float64)
    else:
        vf, vr = vf_exact, vr_exact
    sign = np.where(np.asarray(harmful, dtype=bool), 1.0, -1.0)
    return {
        "reward": r_f * vf + sign * r_a * vr,
        "format": vf,
        "refusal": vr,
        "format_exact": vf_exact,
        "refusal_exact": vr_exact,
    }


class SafetyReward:
    """AlphaAlign's verifiable safety reward ``R_s`` as a TRL reward function (named ``safety``).

    Logs ``align/format_rate``, ``align/refusal_harmful`` and ``align/refusal_benign`` (exact verifiers)
    through TRL's ``log_metric`` each step.
    """

    __name__ = "safety"

    def __init__(
        self,
        *,
        r_f: float = DEFAULT_R_F,
        r_a: float = DEFAULT_R_A,
        shaped: bool = False,
        judge: RefusalJudge | None = None,
    ) -> None:
        self.r_f, self.r_a, self.shaped, self.judge = r_f, r_a, shaped, judge

    def __call__(self, completions: list[Any], **kwargs: Any) -> list[float]:
        texts = [as_text(c) for c in completions]
        harmful = harmful_flags(len(texts), kwargs)
        comp = safety_components(
            texts, harmful, r_f=self.r_f, r_a=self.r_a, shaped=self.shaped, judge=self.judge
        )
        h = np.asarray(harmful, dtype=bool)
        _log(kwargs, "align/format_rate", comp["format_exact"].mean())
        if h.any():
            _log(kwargs, "align/refusal_harmful", comp["refusal_exact"][h].mean())
        if (~h).any():
            _log(kwargs, "align/refusal_benign", comp["refusal_exact"][~h].mean())
        return check_finite(self.__name__, comp["reward"])


# ---- AlphaAlign helpfulness (the scores come from core.align.helpful) --------------------------------------
def group_normalise(scores: Sequence[float], groups: Sequence[Any], eps: float = 1e-6) -> np.ndarray:
    """``(r - mean) / std`` within each group of equal keys (the n rollouts of one prompt; std 0 -> 0)."""
    s = np.asarray(scores, dtype=np.float64)
    out = np.zeros_like(s)
    keys = [str(g) for g in groups]
    for key in set(keys):
        idx = np.array([i for i, k in enumerate(keys) if k == key])
        sd = s[idx].std()
        out[idx] = 0.0 if sd < eps else (s[idx] - s[idx].mean()) / sd
    return out


def helpfulness_values(
    rm_scores: Sequence[float], groups: Sequence[Any], harmful: Sequence[bool], refused: Sequence[float]
) -> np.ndarray:
    """AlphaAlign Eq. 6: ``max(normalised RM score, 0)`` for benign, non-refusing completions; else 0."""
    norm = group_normalise(rm_scores, groups)
    keep = (~np.asarray(harmful, dtype=bool)) & (np.asarray(refused, dtype=np.float64) < 0.5)
    return np.where(keep, np.maximum(norm, 0.0), 0.0)


# ---- CRAFT text-side rewards ------------------------------------------------------------------------------
TextSafetyJudge = Callable[[Sequence[str], Sequence[bool]], np.ndarray]  # (texts, harmful) -> P(safe | text)


def keyword_p_safe(
    texts: Sequence[str], harmful: Sequence[bool], *, shaped: bool = True, judge: RefusalJudge | None = None
) -> np.ndarray:
    """Default text judge, P(safe | text): for a harmful request the (graded) refusal score of the response;
    a response to a benign request is safe (1.0). Plug a guard/classifier model in via ``TextSafetyJudge``."""
    grade = refusal_grade if shaped else refusal_verifier
    return np.array(
        [grade(t, judge) if h else 1.0 for t, h in zip(texts, harmful, strict=True)], dtype=np.float64
    )


def text_reward(p_safe_text: np.ndarray) -> np.ndarray:
    """CRAFT ``R_txt = 2 P(safe | text) - 1`` in [-1, 1]."""
    p = np.asarray(p_safe_text, dtype=np.float64)
    if p.size and (p.min() < -1e-6 or p.max() > 1 + 1e-6):
        raise RewardError(
            f"P(safe | text) must lie in [0, 1]; the text judge returned values in "
            f"[{p.min():.3g}, {p.max():.3g}]. A harmfulness score must be turned into 1 - score."
        )
    return 2.0 * p - 1.0


def consistency_reward(p_safe_head: np.ndarray, p_safe_text: np.ndarray) -> np.ndarray:
    """CRAFT ``R_cons = 1 - |P_head(safe | z) - P(safe | text)|`` in [0, 1]."""
    return 1.0 - np.abs(np.asarray(p_safe_head, dtype=np.float64) - np.asarray(p_safe_text, dtype=np.float64))


def latent_safety_reward(
    cosines: np.ndarray, *, alpha: float = 1.0, beta: float = 1.0, gamma: float = 0.5
) -> np.ndarray:
    """CRAFT ``R_ls = alpha cos(z, mu_safe) - beta cos(z, mu_unsafe) + gamma cos(z, mu_rethink)``;
    ``cosines`` is ``[n, 3]`` in (safe, unsafe, rethink) order."""
    c = np.asarray(cosines, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] != 3:
        raise RewardError(f"Prototype cosines must be [n, 3] (safe, unsafe, rethink); got shape {c.shape}.")
    return alpha * c[:, 0] - beta * c[:, 1] + gamma * c[:, 2]


def craft_total(
    r_ls: np.ndarray,
    r_txt: np.ndarray,
    r_cons: np.ndarray,
    *,
    w_lat: float = 0.5,
    w_txt: float = 0.4,
    w_cons: float = 0.2,
) -> np.ndarray:
    """CRAFT ``R = w_lat R_ls + w_txt R_txt + w_cons R_cons`` (defaults 0.5 / 0.4 / 0.2)."""
    return w_lat * np.asarray(r_ls) + w_txt * np.asarray(r_txt) + w_cons * np.asarray(r_cons)


def check_judge_output(p: Any, n: int, name: str = "text judge") -> np.ndarray:
    arr = np.asarray(p, dtype=np.float64).reshape(-1)
    if arr.shape[0] != n:
        raise InputError(f"The {name} returned {arr.shape[0]} scores for {n} completions.")
    check_finite(name, arr)
    return arr
