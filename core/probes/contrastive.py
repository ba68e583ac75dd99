"""CRAFT phase 1 (arXiv 2603.17305): a latent contrastive head on pooled hidden states (torch).

Architecture (as in the released code, scaled down for a 135M model):

* input standardisation (train-set mean / std, stored as buffers), then the projection
  ``f: d -> hidden -> k`` (Linear, GELU, Linear) and L2 normalisation -> ``z`` on the unit sphere;
* class prototypes ``mu_safe, mu_unsafe, mu_rethink`` (unit vectors, not trained by gradient): initialised
  from the class means of the untrained embeddings, then an EMA of each batch's class means
  (momentum 0.98, re-normalised);
* a 3-class safety head ``g: k -> 3`` (Linear).

Loss per batch (two augmented views ``z1, z2`` of each item):

* prototype margin: safe items ``ReLU(m - cos(z, mu_s) + cos(z, mu_u))``; unsafe items the mirror
  ``ReLU(m - cos(z, mu_u) + cos(z, mu_s))``; rethink items are pulled toward their prototype and kept
  *between* the two poles: ``gamma * (1 - cos(z, mu_r)) + ReLU(m - cos(z, mu_r) + max(cos(z, mu_s), cos(z,
  mu_u)))`` (the paper's ``gamma_rt (1 - z.mu_r)`` plus the released code's rethink-between margin term);
* InfoNCE between the two views (symmetric, temperature tau; no MoCo queue at this data scale);
* class-weighted cross-entropy of the safety head on both views.

Augmentations (documented choice): with token states given (``tokens``), each view mean-pools a random
subset of the item's tokens (**token dropout**, the analogue of the released code's 5 % word dropout);
otherwise each view is the pooled vector plus gaussian noise and **feature dropout** in standardised units.
Everything is seeded; training runs on CPU in seconds for a few hundred items.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field

from core.errors import InputError

if TYPE_CHECKING:
    import torch

CLASSES: tuple[str, ...] = ("safe", "unsafe", "rethink")
SAFE, UNSAFE, RETHINK = 0, 1, 2
Progress = Callable[[int, int], None]


class ContrastiveConfig(BaseModel):
    """Hyper-parameters of the contrastive head (defaults tuned for SmolLM2-135M, d = 576)."""

    hidden: int = Field(256, ge=8)
    dim: int = Field(64, ge=2, description="k: size of the normalised latent z")
    margin: float = Field(0.2, ge=0.0)
    rethink_weight: float = Field(0.5, ge=0.0)
    tau: float = Field(0.1, gt=0.0)
    lambda_inst: float = Field(0.5, ge=0.0)
    lambda_ce: float = Field(1.0, ge=0.0)
    momentum: float = Field(0.98, ge=0.0, lt=1.0)
    epochs: int = Field(60, ge=1)
    batch_size: int = Field(32, ge=2)
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.01, ge=0.0)
    noise: float = Field(0.1, ge=0.0, description="gaussian noise std of the pooled-vector augmentation")
    feature_dropout: float = Field(0.1, ge=0.0, lt=1.0)
    token_dropout: float = Field(0.1, ge=0.0, lt=1.0)
    head_scale: float = Field(
        10.0, gt=0.0, description="z is scaled by this before the safety head (z is unit-norm)"
    )
    seed: int = 0


@functools.cache
def head_class() -> type[torch.nn.Module]:
    """The ``ContrastiveHead`` torch module class, defined on first use so that importing this module (and the
    probes workflow, the CLI, the artefact loaders above it) does not import torch."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class ContrastiveHead(nn.Module):
        def __init__(
            self, d_model: int, hidden: int, dim: int, n_classes: int = 3, head_scale: float = 10.0
        ) -> None:
            super().__init__()
            self.head_scale = head_scale
            self.register_buffer("mean", torch.zeros(d_model))
            self.register_buffer("std", torch.ones(d_model))
            self.register_buffer("prototypes", torch.zeros(n_classes, dim))
            self.proj = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, dim))
            self.head = nn.Linear(dim, n_classes)

        def standardise(self, h: torch.Tensor) -> torch.Tensor:
            return (h - self.mean) / self.std

        def embed_std(self, x: torch.Tensor) -> torch.Tensor:
            """Standardised input ``[n, d]`` -> unit-norm latent ``[n, k]``."""
            return F.normalize(self.proj(x), dim=-1)

        def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            z = self.embed_std(self.standardise(h))
            return z, self.classify(z)

        def classify(self, z: torch.Tensor) -> torch.Tensor:
            """Safety-head logits ``[n, 3]`` of unit latents (scaled first: a linear map of a unit vector
            alone cannot give confident probabilities)."""
            return self.head(z * self.head_scale)

    return ContrastiveHead


def __getattr__(name: str) -> Any:
    if name == "ContrastiveHead":  # the class by its old name (built, and torch imported, on first access)
        return head_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def encode_labels3(labels: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(labels), dtype=np.int64)
    for i, v in enumerate(labels):
        if v not in CLASSES:
            raise InputError(
                f"Item {i} has label {v!r}; the contrastive head needs 'safe', 'unsafe' or 'rethink'."
            )
        out[i] = CLASSES.index(v)
    return out


@dataclass
class ContrastiveProbe:
    """A trained head plus its provenance; numpy in, numpy out."""

    module: torch.nn.Module  # a head_class() instance
    config: ContrastiveConfig
    layer: int
    meta: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def d_model(self) -> int:
        return int(self.module.mean.shape[0])

    def _tensor(self, h: np.ndarray | torch.Tensor) -> torch.Tensor:
        import torch

        t = torch.as_tensor(np.asarray(h, dtype=np.float32)) if not isinstance(h, torch.Tensor) else h.float()
        if t.shape[-1] != self.d_model:
            raise InputError(
                f"The contrastive head expects states of size {self.d_model}, got {t.shape[-1]}: "
                "it was trained on another model's states."
            )
        return t.reshape(-1, self.d_model)

    def embed(self, h: np.ndarray | torch.Tensor) -> np.ndarray:
        """``[..., d] -> [n, k]`` unit-norm latents."""
        import torch

        self.module.eval()
        with torch.no_grad():
            return self.module(self._tensor(h))[0].numpy()

    def prototype_cosines(self, z: np.ndarray) -> np.ndarray:
        """``[n, k] -> [n, 3]`` cosines to (safe, unsafe, rethink) prototypes (z is already unit-norm)."""
        return np.asarray(z, dtype=np.float32) @ self.module.prototypes.numpy().T

    def probabilities(self, h: np.ndarray | torch.Tensor) -> np.ndarray:
        """``[n, 3]`` softmax of the safety head over (safe, unsafe, rethink)."""
        import torch

        self.module.eval()
        with torch.no_grad():
            return torch.softmax(self.module(self._tensor(h))[1], dim=-1).numpy()

    def p_safe(self, h: np.ndarray | torch.Tensor) -> np.ndarray:
        """P(safe | h) from the safety head (CRAFT's sigma(psi(z)) for the consistency reward)."""
        return self.probabilities(h)[:, SAFE]

    def predict(self, h: np.ndarray | torch.Tensor) -> np.ndarray:
        return self.probabilities(h).argmax(-1)

    def latent_reward(
        self, h: np.ndarray, alpha: float = 1.0, beta: float = 1.0, gamma: float = 0.5
    ) -> np.ndarray:
        """CRAFT's R_ls = alpha cos(z, mu_s) - beta cos(z, mu_u) + gamma cos(z, mu_r), per item."""
        c = self.prototype_cosines(self.embed(h))
        return alpha * c[:, SAFE] - beta * c[:, UNSAFE] + gamma * c[:, RETHINK]


# ---- losses ----------------------------------------------------------------------------------------------
def prototype_loss(
    z: torch.Tensor, y: torch.Tensor, protos: torch.Tensor, margin: float, rethink_weight: float
) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    cos = z @ protos.T  # [B, 3]
    cs, cu, cr = cos[:, SAFE], cos[:, UNSAFE], cos[:, RETHINK]
    safe = F.relu(margin - cs + cu)
    unsafe = F.relu(margin - cu + cs)
    rethink = rethink_weight * (1 - cr) + F.relu(margin - cr + torch.maximum(cs, cu))
    per = torch.where(y == SAFE, safe, torch.where(y == UNSAFE, unsafe, rethink))
    return per.mean()


def info_nce(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    """Symmetric InfoNCE: the other view of the same item is the positive, the rest of the batch negatives."""
    import torch
    import torch.nn.functional as F

    logits = z1 @ z2.T / tau
    target = torch.arange(z1.shape[0])
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


# ---- training ----------------------------------------------------------------------------------------------
def _check3(y: np.ndarray) -> dict[str, int]:
    counts = {c: int((y == i).sum()) for i, c in enumerate(CLASSES)}
    if counts["safe"] < 2 or counts["unsafe"] < 2:
        raise InputError(
            "The contrastive head needs at least 2 'safe' and 2 'unsafe' items (have "
            + ", ".join(f"{c}: {n}" for c, n in counts.items())
            + "). Label more items."
        )
    return counts


def macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, pred, labels=sorted(set(y.tolist())), average="macro", zero_division=0))


def _views(
    x: torch.Tensor,
    idx: np.ndarray,
    tokens: list[torch.Tensor] | None,
    cfg: ContrastiveConfig,
    head: torch.nn.Module,
    gen: torch.Generator,
) -> torch.Tensor:
    """One augmented, standardised view of the batch ``idx``."""
    import torch

    if tokens is not None:  # token dropout: mean-pool a random subset (at least one) of each item's tokens
        rows = []
        for i in idx:
            t = tokens[i]
            keep = torch.rand(t.shape[0], generator=gen) >= cfg.token_dropout
            if not keep.any():
                keep[torch.randint(t.shape[0], (1,), generator=gen)] = True
            rows.append(t[keep].mean(0))
        return head.standardise(torch.stack(rows))
    v = x[idx] + cfg.noise * torch.randn(x[idx].shape, generator=gen)
    if cfg.feature_dropout > 0:
        keep = (torch.rand(v.shape, generator=gen) >= cfg.feature_dropout).float()
        v = v * keep / (1 - cfg.feature_dropout)
    return v


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Train the head on one intra-op thread, then restore the count. The head's matrices are tiny ([32, 576]
    x [576, 256]); extra OpenMP threads only spin-wait, and on a busy 2-core machine that turned a 1-second
    fit into 391 s (measured while an alignment job was running)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_contrastive(
    X: np.ndarray,
    labels: Sequence[Any],
    *,
    config: ContrastiveConfig | None = None,
    layer: int = -1,
    X_val: np.ndarray | None = None,
    labels_val: Sequence[Any] | None = None,
    tokens: Sequence[np.ndarray] | None = None,
    progress: Progress | None = None,
    meta: dict[str, Any] | None = None,
) -> ContrastiveProbe:
    """Train the head on pooled states ``X [n, d]`` labelled safe / unsafe / rethink.

    ``tokens`` (optional): each item's token states ``[T_i, d]`` at the same layer, for token-dropout views.
    ``progress(epoch, epochs)`` ticks once per epoch. Validation metrics (macro-F1, accuracy, confusion) are
    computed when ``X_val`` is given.
    """
    with one_torch_thread():
        return _train(
            X, labels, config or ContrastiveConfig(), layer, X_val, labels_val, tokens, progress, meta
        )


def _train(
    X: np.ndarray,
    labels: Sequence[Any],
    cfg: ContrastiveConfig,
    layer: int,
    X_val: np.ndarray | None,
    labels_val: Sequence[Any] | None,
    tokens: Sequence[np.ndarray] | None,
    progress: Progress | None,
    meta: dict[str, Any] | None,
) -> ContrastiveProbe:
    import torch
    import torch.nn.functional as F

    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise InputError(f"Pooled states must be [n_items, d_model]; got shape {X.shape}.")
    y = encode_labels3(labels)
    if len(y) != len(X):
        raise InputError(f"{len(X)} feature rows but {len(y)} labels; they must match one to one.")
    counts = _check3(y)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    d = X.shape[1]
    head = head_class()(d, cfg.hidden, cfg.dim, head_scale=cfg.head_scale)
    x = torch.from_numpy(X)
    head.mean.copy_(x.mean(0))
    head.std.copy_(x.std(0).clamp_min(1e-6))
    xs = head.standardise(x)
    tok = None
    if tokens is not None:
        if len(tokens) != len(X):
            raise InputError(f"{len(tokens)} token arrays for {len(X)} items.")
        tok = [torch.as_tensor(np.asarray(t, dtype=np.float32)) for t in tokens]
    yt = torch.from_numpy(y)
    with torch.no_grad():  # prototypes start at the class means of the untrained embeddings
        z0 = head.embed_std(xs)
        for c in range(3):
            sel = z0[yt == c]
            head.prototypes[c] = F.normalize(
                sel.mean(0) if len(sel) else torch.randn(cfg.dim, generator=gen), dim=0
            )
    weights = torch.tensor([len(y) / (3 * max(counts[c], 1)) for c in CLASSES])
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history: list[dict[str, float]] = []
    n = len(y)
    for epoch in range(cfg.epochs):
        head.train()
        order = torch.randperm(n, generator=gen).numpy()
        sums = {"loss": 0.0, "proto": 0.0, "nce": 0.0, "ce": 0.0}
        steps = 0
        for s in range(0, n, cfg.batch_size):
            idx = order[s : s + cfg.batch_size]
            if len(idx) < 2:
                continue
            z1 = head.embed_std(_views(xs, idx, tok, cfg, head, gen))
            z2 = head.embed_std(_views(xs, idx, tok, cfg, head, gen))
            yb = yt[idx]
            protos = head.prototypes.detach()
            l_proto = 0.5 * (
                prototype_loss(z1, yb, protos, cfg.margin, cfg.rethink_weight)
                + prototype_loss(z2, yb, protos, cfg.margin, cfg.rethink_weight)
            )
            l_nce = info_nce(z1, z2, cfg.tau)
            l_ce = 0.5 * (
                F.cross_entropy(head.classify(z1), yb, weight=weights)
                + F.cross_entropy(head.classify(z2), yb, weight=weights)
            )
            loss = l_proto + cfg.lambda_inst * l_nce + cfg.lambda_ce * l_ce
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():  # EMA of the batch class means, kept on the unit sphere
                for c in range(3):
                    sel = z1[yb == c]
                    if len(sel):
                        mixed = cfg.momentum * head.prototypes[c] + (1 - cfg.momentum) * sel.mean(0)
                        head.prototypes[c] = F.normalize(mixed, dim=0)
            for k_, v in (("loss", loss), ("proto", l_proto), ("nce", l_nce), ("ce", l_ce)):
                sums[k_] += float(v.detach())
            steps += 1
        history.append({k_: v / max(steps, 1) for k_, v in sums.items()} | {"epoch": epoch + 1})
        if progress:
            progress(epoch + 1, cfg.epochs)
    probe = ContrastiveProbe(
        head.eval(), cfg, layer, meta={**(meta or {}), "n_train": counts}, history=history
    )
    probe.metrics = {"train": evaluate_contrastive(probe, X, labels)}
    if X_val is not None and labels_val is not None and len(labels_val) > 0:
        probe.metrics["validation"] = evaluate_contrastive(probe, X_val, labels_val)
    return probe


def evaluate_contrastive(probe: ContrastiveProbe, X: np.ndarray, labels: Sequence[Any]) -> dict[str, Any]:
    """Macro-F1 / accuracy / 3x3 confusion of the safety head and of the nearest prototype."""
    y = encode_labels3(labels)
    pred = probe.predict(X)
    near = probe.prototype_cosines(probe.embed(X)).argmax(-1)
    conf = np.zeros((3, 3), dtype=int)
    for t, p in zip(y, pred, strict=True):
        conf[t, p] += 1
    return {
        "macro_f1": macro_f1(y, pred),
        "accuracy": float((pred == y).mean()),
        "prototype_macro_f1": macro_f1(y, near),
        "confusion": conf.tolist(),
        "n": int(len(y)),
    }
