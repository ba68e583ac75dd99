"""Per-layer linear probes on pooled hidden states: logistic regression and difference-in-means.

Arrays in, arrays out (numpy + scikit-learn, no torch). Conventions:

* features ``X`` are ``[n_items, n_layers, d_model]`` (one pooled state per item and layer, see
  ``core.probes.features``) or ``[n_items, d_model]`` for a single layer;
* labels are ``"safe"`` / ``"unsafe"`` (or 0 / 1); the positive class is **unsafe**, so every probe's
  ``score(h)`` is P(unsafe | h) in [0, 1];
* every probe is affine in the raw hidden state: ``logit = h @ weight + bias``. That is what the live
  monitor evaluates per token and what artefacts store (for logistic probes the scaler and the
  standardised coefficients are stored too, so the sklearn pipeline is rebuilt exactly, never pickled).

The difference-in-means direction follows Arditi et al. 2024: ``r = mean(unsafe) - mean(safe)``; its score is
the projection on ``r / |r|`` passed through a 1-D logistic calibration fitted on the training projections.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import InputError

POSITIVE, NEGATIVE = "unsafe", "safe"
METHODS: tuple[str, ...] = ("logistic", "diff_means")
METHOD_HELP = {
    "logistic": "L2-regularised logistic regression on standardised states (scikit-learn)",
    "diff_means": "difference-in-means direction mean(unsafe) − mean(safe) (Arditi et al. 2024), calibrated",
}
METRICS: tuple[str, ...] = ("accuracy", "auroc", "f1")
Progress = Callable[[int, int], None]


# ---- labels and input checks --------------------------------------------------------------------------
def encode_labels(labels: Sequence[Any] | np.ndarray) -> np.ndarray:
    """``"unsafe"``/1/True -> 1, ``"safe"``/0/False -> 0; anything else is an InputError naming it."""
    out = np.empty(len(labels), dtype=np.int64)
    for i, v in enumerate(labels):
        if isinstance(v, str):
            if v not in (POSITIVE, NEGATIVE):
                raise InputError(
                    f"Item {i} has label {v!r}; a linear probe separates 'safe' from 'unsafe' "
                    "items only. Drop other labels (e.g. 'rethink') or use the contrastive head."
                )
            out[i] = int(v == POSITIVE)
        elif v in (0, 1):
            out[i] = int(v)
        else:
            raise InputError(f"Item {i} has label {v!r}; expected 'safe'/'unsafe' or 0/1.")
    return out


def class_counts(y: np.ndarray) -> dict[str, int]:
    return {NEGATIVE: int((y == 0).sum()), POSITIVE: int((y == 1).sum())}


def check_training_data(y: np.ndarray, k: int) -> None:
    """Both classes present and at least ``k`` items of each (stratified k-fold), else an actionable error."""
    counts = class_counts(y)
    if len(y) == 0:
        raise InputError("The dataset has no labelled items: label some items safe/unsafe first.")
    present = [c for c, n in counts.items() if n > 0]
    if len(present) < 2:
        raise InputError(
            f"All {len(y)} items are labelled {present[0]!r}: a probe needs both 'safe' and 'unsafe' "
            "items. Label items of the other class or pick another dataset."
        )
    if k < 2:
        raise InputError(f"k-fold cross-validation needs k ≥ 2 (got k={k}).")
    if min(counts.values()) < k:
        have = ", ".join(f"{c}: {n}" for c, n in counts.items())
        raise InputError(
            f"{k}-fold cross-validation needs at least {k} items of each class; this dataset has "
            f"{have}. Label more items of the smaller class or lower k (down to 2)."
        )


def as_layered(X: np.ndarray, layers: Sequence[int] | None) -> tuple[np.ndarray, tuple[int, ...]]:
    """``X`` as ``[n, L, d]`` float32 plus its layer indices; InputError on wrong shapes."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 2:
        X = X[:, None, :]
    if X.ndim != 3:
        raise InputError(
            f"Features must be [n_items, n_layers, d_model] or [n_items, d_model]; got shape {X.shape}."
        )
    lay = tuple(int(x) for x in layers) if layers is not None else tuple(range(X.shape[1]))
    if len(lay) != X.shape[1]:
        raise InputError(f"{len(lay)} layer indices given for features with {X.shape[1]} layers.")
    if not np.isfinite(X).all():
        raise InputError(
            "The features contain NaN or infinite values; re-capture the trajectories in float32."
        )
    return X, lay


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # numerically stable logistic


# ---- one probe --------------------------------------------------------------------------------------
@dataclass
class Probe:
    """An affine probe at one layer: ``score(h) = sigmoid(h @ weight + bias)`` = P(unsafe | h).

    ``params`` holds the method's own arrays (what artefacts save and ``from_params`` rebuilds):
    logistic -> ``coef``, ``intercept``, ``mean``, ``scale`` (the StandardScaler); diff_means ->
    ``direction`` (mean(unsafe) − mean(safe), unnormalised) and ``calibration`` = (a, b) on its unit
    projection.
    """

    method: str
    layer: int
    params: dict[str, np.ndarray]
    threshold: float = 0.5
    weight: np.ndarray = field(init=False, repr=False)  # [d]
    bias: float = field(init=False)

    def __post_init__(self) -> None:
        p = {k: np.asarray(v, dtype=np.float64) for k, v in self.params.items()}
        self.params = p
        if self.method == "logistic":
            coef, mean, scale = p["coef"].reshape(-1), p["mean"], p["scale"]
            self.weight = coef / scale  # undo standardisation: (h - m)/s @ c = h @ (c/s) - m @ (c/s)
            self.bias = float(p["intercept"].reshape(-1)[0] - mean @ self.weight)
        elif self.method == "diff_means":
            r = p["direction"]
            norm = float(np.linalg.norm(r))
            a, b = p["calibration"].reshape(-1)[:2]
            # identical class means (e.g. the embedding of one shared template token): a constant score
            self.weight = a * r / norm if norm > 0 else np.zeros_like(r)
            self.bias = float(b)
        else:
            raise InputError(f"Unknown probe method {self.method!r}; choose one of {list(METHODS)}.")

    @property
    def d_model(self) -> int:
        return int(self.weight.shape[0])

    @property
    def direction(self) -> np.ndarray:
        """The probe's direction in raw state space (diff_means: the unnormalised mean difference)."""
        return self.params["direction"] if self.method == "diff_means" else self.weight

    def _check(self, h: np.ndarray) -> np.ndarray:
        h = np.asarray(h, dtype=np.float64)
        if h.shape[-1] != self.d_model:
            raise InputError(
                f"This probe expects hidden states of size {self.d_model} (layer {self.layer}), got "
                f"{h.shape[-1]}: it was trained on another model's states."
            )
        return h

    def logit(self, h: np.ndarray) -> np.ndarray:
        """``[..., d] -> [...]`` log-odds of unsafe."""
        return self._check(h) @ self.weight + self.bias

    def score(self, h: np.ndarray) -> np.ndarray:
        """``[..., d] -> [...]`` P(unsafe) in [0, 1]."""
        return _sigmoid(self.logit(h))

    def predict(self, h: np.ndarray) -> np.ndarray:
        return (self.score(h) >= self.threshold).astype(np.int64)


def fit_probe(
    X: np.ndarray, y: np.ndarray, *, layer: int = 0, method: str = "logistic", C: float = 1.0, seed: int = 0
) -> Probe:
    """Fit one probe on ``X [n, d]`` with binary ``y`` (1 = unsafe)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(X, dtype=np.float64)
    if method == "logistic":
        scaler = StandardScaler().fit(X)
        clf = LogisticRegression(C=C, max_iter=2000, random_state=seed).fit(scaler.transform(X), y)
        return Probe(
            "logistic",
            layer,
            {
                "coef": clf.coef_.reshape(-1),
                "intercept": clf.intercept_.reshape(-1),
                "mean": scaler.mean_,
                "scale": scaler.scale_,
            },
        )
    if method == "diff_means":
        r = diff_in_means(X, y)
        norm = np.linalg.norm(r)
        if norm == 0:  # no direction at this layer: constant score at the class prior (AUROC 0.5)
            prior = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
            return Probe(
                "diff_means",
                layer,
                {"direction": r, "calibration": np.array([0.0, np.log(prior / (1 - prior))])},
            )
        proj = (X @ (r / norm)).reshape(-1, 1)
        # 1-D calibration of the projection (weak regularisation: it only sets the threshold and slope)
        cal = LogisticRegression(C=1e4, max_iter=2000, random_state=seed).fit(proj, y)
        return Probe(
            "diff_means",
            layer,
            {"direction": r, "calibration": np.array([cal.coef_[0, 0], cal.intercept_[0]])},
        )
    raise InputError(f"Unknown probe method {method!r}; choose one of {list(METHODS)}.")


def diff_in_means(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Arditi et al.'s candidate direction ``mean(X[y == 1]) - mean(X[y == 0])`` over the item axis."""
    X = np.asarray(X, dtype=np.float64)
    return X[y == 1].mean(axis=0) - X[y == 0].mean(axis=0)


# ---- metrics ----------------------------------------------------------------------------------------
def binary_metrics(y: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, AUROC and F1 (positive = unsafe); AUROC is NaN when only one class is present."""
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    pred = (scores >= threshold).astype(np.int64)
    auroc = float(roc_auc_score(y, scores)) if len(np.unique(y)) == 2 else float("nan")
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "auroc": auroc,
        "f1": float(f1_score(y, pred, zero_division=0)),
    }


def confusion(y: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """``[[TN, FP], [FN, TP]]`` rows = true safe/unsafe, columns = predicted safe/unsafe."""
    pred = (np.asarray(scores) >= threshold).astype(np.int64)
    m = np.zeros((2, 2), dtype=np.int64)
    for t, p in zip(np.asarray(y, dtype=np.int64), pred, strict=True):
        m[t, p] += 1
    return m


# ---- per-layer training with cross-validation -----------------------------------------------------------
@dataclass
class LayerMetrics:
    """Cross-validated fold values (and held-out values, if a validation split was given) at one layer."""

    layer: int
    folds: dict[str, list[float]]  # metric -> one value per fold
    heldout: dict[str, float] | None = None

    def mean(self, metric: str) -> float:
        return float(np.nanmean(self.folds[metric]))

    def std(self, metric: str) -> float:
        return float(np.nanstd(self.folds[metric]))

    def to_json(self) -> dict[str, Any]:
        return {"layer": self.layer, "folds": self.folds, "heldout": self.heldout}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LayerMetrics:
        return cls(
            int(d["layer"]), {k: [float(x) for x in v] for k, v in d["folds"].items()}, d.get("heldout")
        )


@dataclass(kw_only=True)
class ProbeSet:
    """One probe per layer, their metrics, the suggested layer, and how they were made (``meta``).

    ``oof_scores[j, i]``: out-of-fold score of training item i at ``layers[j]`` (each item scored by the fold
    model that did not see it); ``val_scores`` likewise for the validation split (models fitted on all
    training items). They feed the score histograms, confusion matrices and "most wrong items".
    """

    method: str
    layers: tuple[int, ...]
    probes: dict[int, Probe]
    metrics: dict[int, LayerMetrics]
    best_layer: int
    meta: dict[str, Any] = field(default_factory=dict)
    y_train: np.ndarray | None = None
    oof_scores: np.ndarray | None = None  # [L, n_train]
    y_val: np.ndarray | None = None
    val_scores: np.ndarray | None = None  # [L, n_val]

    def probe(self, layer: int | None = None) -> Probe:
        layer = self.best_layer if layer is None else layer
        if layer not in self.probes:
            raise InputError(f"No probe at layer {layer}; this probe set covers layers {list(self.layers)}.")
        return self.probes[layer]

    def score(self, h: np.ndarray, layer: int | None = None) -> np.ndarray:
        """P(unsafe) of states ``h [..., d]`` with the probe at ``layer`` (default: the best layer)."""
        return self.probe(layer).score(h)

    @property
    def d_model(self) -> int:
        return self.probes[self.best_layer].d_model

    def curve(self, metric: str = "auroc") -> dict[str, np.ndarray]:
        """Per-layer curve: ``layers``, CV ``mean``/``std`` and ``heldout`` (NaN without a validation
        split)."""
        ms = [self.metrics[layer] for layer in self.layers]
        return {
            "layers": np.asarray(self.layers),
            "mean": np.array([m.mean(metric) for m in ms]),
            "std": np.array([m.std(metric) for m in ms]),
            "heldout": np.array([(m.heldout or {}).get(metric, np.nan) for m in ms], dtype=float),
        }


def best_layer(metrics: dict[int, LayerMetrics]) -> int:
    """Highest mean CV AUROC; ties -> higher CV accuracy, then lower std, then the earlier layer.

    Chosen on cross-validation only, so the validation split stays an unbiased check of the choice.
    """

    def key(layer: int) -> tuple[float, float, float, int]:
        m = metrics[layer]
        auroc = m.mean("auroc")
        return (-(auroc if np.isfinite(auroc) else -1.0), -m.mean("accuracy"), m.std("auroc"), layer)

    return min(metrics, key=key)


# C = 0.05: on the corpus's train split (5-fold CV, post-instruction positions, layers 12-27) C in {0.01,
# 0.05, 0.2, 1} gave best-layer CV AUROC 0.941 / 0.953 / 0.954 / 0.951; 0.05 is the strongest regularisation
# within noise of the best (the one-standard-error rule: simpler models transfer better) and fits 2.3x faster
# than C = 1.
DEFAULT_C = 0.05
DEFAULT_MAX_FPR = 0.05  # the operating point flags at most 5 % of benign train items (out-of-fold)


def operating_threshold(benign_scores: np.ndarray, max_fpr: float) -> float:
    """The smallest threshold ``t`` with ``mean(benign_scores >= t) <= max_fpr`` (scores in [0, 1]).

    Sorting the benign scores, the ``floor(max_fpr * n)``-th largest may still be flagged; the threshold sits
    just above the next one down. With no benign scores the threshold stays 0.5."""
    s = np.sort(np.asarray(benign_scores, dtype=np.float64))[::-1]
    if not 0.0 <= max_fpr < 1.0 or not np.isfinite(max_fpr):
        raise InputError(f"max_fpr must be in [0, 1), got {max_fpr}.")
    if len(s) == 0:
        return 0.5
    allowed = int(np.floor(max_fpr * len(s) + 1e-9))  # this many benign items may score >= t
    t = float(np.nextafter(s[allowed], np.inf))  # strictly above the first benign score that must stay below
    return min(t, 1.0)


def train_probes(
    X: np.ndarray,
    labels: Sequence[Any] | np.ndarray,
    *,
    layers: Sequence[int] | None = None,
    method: str = "logistic",
    k: int = 5,
    C: float = 1.0,
    seed: int = 0,
    X_val: np.ndarray | None = None,
    labels_val: Sequence[Any] | np.ndarray | None = None,
    progress: Progress | None = None,
    meta: dict[str, Any] | None = None,
    max_fpr: float | None = DEFAULT_MAX_FPR,
) -> ProbeSet:
    """Fit a probe per layer with stratified k-fold CV, refit on all training items, score the validation
    split.

    Each layer's ``threshold`` is its operating point, chosen from the *out-of-fold* train scores only: the
    lowest score that flags at most ``max_fpr`` of the benign train items (``None`` keeps 0.5). Validation
    never chooses anything.

    ``X`` is ``[n, L, d]`` (``layers`` names axis 1; default 0..L-1). ``progress(done, total)`` ticks once
    per layer.
    """
    from sklearn.model_selection import StratifiedKFold

    if method not in METHODS:
        raise InputError(f"Unknown probe method {method!r}; choose one of {list(METHODS)}.")
    X, lay = as_layered(X, layers)
    y = encode_labels(labels)
    if len(y) != X.shape[0]:
        raise InputError(f"{X.shape[0]} feature rows but {len(y)} labels; they must match one to one.")
    check_training_data(y, k)
    Xv = yv = None
    if X_val is not None and labels_val is not None and len(labels_val) > 0:
        Xv, _ = as_layered(X_val, lay)
        yv = encode_labels(labels_val)
        if Xv.shape[2] != X.shape[2]:
            raise InputError(f"Validation states have size {Xv.shape[2]} but training states {X.shape[2]}.")
    folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    probes: dict[int, Probe] = {}
    metrics: dict[int, LayerMetrics] = {}
    oof = np.zeros((len(lay), len(y)))
    val = np.zeros((len(lay), len(yv))) if yv is not None else None
    for j, layer in enumerate(lay):
        Xl = X[:, j, :]
        fold_vals: dict[str, list[float]] = {m: [] for m in METRICS}
        for tr, te in folds:
            p = fit_probe(Xl[tr], y[tr], layer=layer, method=method, C=C, seed=seed)
            s = p.score(Xl[te])
            oof[j, te] = s
            for name, v in binary_metrics(y[te], s).items():
                fold_vals[name].append(v)
        probe = fit_probe(Xl, y, layer=layer, method=method, C=C, seed=seed)
        if max_fpr is not None:
            probe.threshold = operating_threshold(oof[j][y == 0], max_fpr)
        probes[layer] = probe
        held = None
        if val is not None and Xv is not None and yv is not None:
            val[j] = probe.score(Xv[:, j, :])
            held = binary_metrics(yv, val[j])
        metrics[layer] = LayerMetrics(layer, fold_vals, held)
        if progress:
            progress(j + 1, len(lay))
    info = {
        "k": k,
        "C": C,
        "seed": seed,
        "n_train": class_counts(y),
        "n_val": class_counts(yv) if yv is not None else None,
        "d_model": int(X.shape[2]),
    }
    return ProbeSet(
        method=method,
        layers=lay,
        probes=probes,
        metrics=metrics,
        best_layer=best_layer(metrics),
        meta={**info, **(meta or {})},
        y_train=y,
        oof_scores=oof,
        y_val=yv,
        val_scores=val,
    )


def evaluate(
    probes: ProbeSet, X: np.ndarray, labels: Sequence[Any] | np.ndarray, layers: Sequence[int] | None = None
) -> dict[int, dict[str, float]]:
    """Metrics of a trained probe set on new items ``X [n, L, d]`` (``layers`` names axis 1)."""
    X, lay = as_layered(X, layers if layers is not None else probes.layers)
    y = encode_labels(labels)
    out = {}
    for j, layer in enumerate(lay):
        if layer in probes.probes:
            out[layer] = binary_metrics(y, probes.probes[layer].score(X[:, j, :]))
    if not out:
        raise InputError(f"None of the layers {list(lay)} has a probe; the set covers {list(probes.layers)}.")
    return out


def operating_report(
    probes: ProbeSet, X: np.ndarray, labels: Sequence[Any] | np.ndarray, layers: Sequence[int] | None = None
) -> dict[str, Any]:
    """Per layer: AUROC, and at that layer's saved threshold the share of harmful items flagged (``tpr``), of
    benign items flagged (``fpr``) and the accuracy; plus the best layer and its threshold (the CLI's JSON).

    ``{"best_layer": L, "threshold": t, "n": {"unsafe": a, "safe": b},
       "layers": {"L": {"auroc", "tpr", "fpr", "accuracy", "threshold"}}}``
    (NaN -> None: one class missing)."""
    from sklearn.metrics import roc_auc_score

    X, lay = as_layered(X, layers if layers is not None else probes.layers)
    y = encode_labels(labels)
    if len(y) != X.shape[0]:
        raise InputError(f"{X.shape[0]} feature rows but {len(y)} labels; they must match one to one.")

    def num(v: float) -> float | None:
        return None if not np.isfinite(v) else round(float(v), 6)

    out: dict[str, Any] = {}
    for j, layer in enumerate(lay):
        if layer not in probes.probes:
            continue
        p = probes.probes[layer]
        s = p.score(X[:, j, :])
        flag = s >= p.threshold
        out[str(layer)] = {
            "auroc": num(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else None,
            "tpr": num(flag[y == 1].mean()) if (y == 1).any() else None,
            "fpr": num(flag[y == 0].mean()) if (y == 0).any() else None,
            "accuracy": num((flag == (y == 1)).mean()),
            "threshold": num(p.threshold),
        }
    if not out:
        raise InputError(f"None of the layers {list(lay)} has a probe; the set covers {list(probes.layers)}.")
    return {
        "best_layer": probes.best_layer,
        "threshold": num(probes.probes[probes.best_layer].threshold),
        "n": {"unsafe": int((y == 1).sum()), "safe": int((y == 0).sum())},
        "layers": out,
    }
