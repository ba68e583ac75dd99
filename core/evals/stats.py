"""Statistics for audit scorecards: numpy + scipy only.

* ``rate_ci``          a rate (mean of 0/1 outcomes) with its Wilson score 95 % CI and n;
* ``mcnemar``          exact McNemar test on paired 0/1 outcomes: a two-sided binomial test
                       (``scipy.stats.binomtest``) of the discordant pairs against p = 1/2;
* ``paired_bootstrap`` bootstrap of the mean paired difference (same items resampled for both subjects);
* ``compare_paired``   both of the above, plus a plain-language verdict.

Outcomes are 0/1 (or booleans); NaN marks an item without an outcome and is dropped (pairwise for paired
tests).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from core.errors import InputError

DEFAULT_BOOT = 2000
ALPHA = 0.05


@dataclass(frozen=True, kw_only=True)
class RateCI:
    """``rate`` = mean outcome over ``n`` items; ``[low, high]`` its bootstrap interval (NaN when n = 0)."""

    rate: float
    low: float
    high: float
    n: int
    k: int  # number of positive outcomes
    level: float = 0.95

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def fmt(self, pct: bool = True) -> str:
        if self.n == 0:
            return "— (n = 0)"
        s = 100.0 if pct else 1.0
        unit = " %" if pct else ""
        return f"{self.rate * s:.1f}{unit} [{self.low * s:.1f}, {self.high * s:.1f}] (n = {self.n})"


def _as_outcomes(values: Sequence[float] | np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=float).reshape(-1)
    v = v[~np.isnan(v)]
    if ((v != 0) & (v != 1)).any():
        raise InputError("Rates need 0/1 outcomes (or booleans); got other values.")
    return v


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of ``k`` successes in ``n`` trials (NaN, NaN when n = 0).

    Unlike a percentile bootstrap it does not collapse at 0/n or n/n: 0 of 3 gives [0, 0.56] at 95 %."""
    if n <= 0:
        return (math.nan, math.nan)
    if not 0 <= k <= n:
        raise InputError(f"Wilson interval needs 0 <= k <= n, got k={k}, n={n}.")
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return (max(0.0, float(ci.low)), min(1.0, float(ci.high)))


def rate_ci(
    values: Sequence[float] | np.ndarray, *, n_boot: int = DEFAULT_BOOT, seed: int = 0, level: float = 0.95
) -> RateCI:
    """Rate with its Wilson score interval (``n_boot`` and ``seed`` are accepted for old callers; unused).

    The interval is right at small n and at 0 % / 100 % (a percentile bootstrap collapsed to zero width there,
    claiming certainty from three samples)."""
    del n_boot, seed
    v = _as_outcomes(values)
    n = int(v.size)
    if n == 0:
        return RateCI(rate=math.nan, low=math.nan, high=math.nan, n=0, k=0, level=level)
    k = int(v.sum())
    lo, hi = wilson_interval(k, n, level)
    return RateCI(rate=k / n, low=lo, high=hi, n=n, k=k, level=level)


@dataclass(frozen=True)
class McNemar:
    """Discordant pairs: ``b`` = a 1 / b 0, ``c`` = a 0 / b 1; exact two-sided p-value."""

    b: int
    c: int
    n: int  # paired items
    p_value: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _paired(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=float).reshape(-1), np.asarray(b, dtype=float).reshape(-1)
    if x.shape != y.shape:
        raise InputError(f"Paired comparison needs the same items for both subjects ({x.size} vs {y.size}).")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    for arr in (x, y):
        if ((arr != 0) & (arr != 1)).any():
            raise InputError("Paired comparison needs 0/1 outcomes.")
    return x, y


def mcnemar(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> McNemar:
    """Exact McNemar test: under H0 each discordant pair is equally likely either way (Binomial(b + c,
    1/2))."""
    from scipy.stats import binomtest

    x, y = _paired(a, b)
    nb, nc = int(((x == 1) & (y == 0)).sum()), int(((x == 0) & (y == 1)).sum())
    p = 1.0 if nb + nc == 0 else float(binomtest(nb, nb + nc, 0.5, alternative="two-sided").pvalue)
    return McNemar(nb, nc, int(x.size), min(1.0, p))


@dataclass(frozen=True)
class PairedDiff:
    """Mean of ``b - a`` over paired items with its bootstrap CI, and a two-sided bootstrap p-value."""

    diff: float
    low: float
    high: float
    n: int
    p_value: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def paired_bootstrap(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    level: float = 0.95,
) -> PairedDiff:
    """Resample items (keeping each item's pair together) and take the mean of ``b - a`` each time.

    The p-value is twice the smaller tail share of bootstrap differences on either side of 0
    (percentile-interval inversion), floored at 1 / n_boot.
    """
    x, y = _paired(a, b)
    n = int(x.size)
    if n == 0:
        return PairedDiff(math.nan, math.nan, math.nan, 0, math.nan)
    d = y - x
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    boots = d[idx].mean(axis=1)
    lo, hi = np.quantile(boots, [(1 - level) / 2, 1 - (1 - level) / 2])
    if np.all(d == 0):
        p = 1.0
    else:
        tail = min((boots <= 0).mean(), (boots >= 0).mean())
        p = float(min(1.0, max(2 * tail, 1.0 / n_boot)))
    return PairedDiff(float(d.mean()), float(lo), float(hi), n, p)


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """Subject ``b`` against subject ``a`` on the same items."""

    rate_a: float
    rate_b: float
    mcnemar: McNemar
    bootstrap: PairedDiff
    significant: bool  # exact McNemar p < alpha
    alpha: float = ALPHA

    @property
    def delta(self) -> float:
        return self.rate_b - self.rate_a

    def to_json(self) -> dict[str, Any]:
        return {
            "rate_a": self.rate_a,
            "rate_b": self.rate_b,
            "delta": self.delta,
            "significant": self.significant,
            "alpha": self.alpha,
            "mcnemar": self.mcnemar.to_json(),
            "bootstrap": self.bootstrap.to_json(),
        }

    def verdict(self, higher_is_better: bool | None) -> str:
        """'better' / 'worse' / 'no significant difference' (or 'higher' / 'lower' without a direction)."""
        if not self.significant or self.delta == 0:
            return "no significant difference"
        up = self.delta > 0
        if higher_is_better is None:
            return "significantly higher" if up else "significantly lower"
        return "significantly better" if up == higher_is_better else "significantly worse"


def compare_paired(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    alpha: float = ALPHA,
) -> Comparison:
    x, y = _paired(a, b)
    m = mcnemar(x, y)
    pb = paired_bootstrap(x, y, n_boot=n_boot, seed=seed)
    ra = float(x.mean()) if x.size else math.nan
    rb = float(y.mean()) if y.size else math.nan
    return Comparison(
        rate_a=ra, rate_b=rb, mcnemar=m, bootstrap=pb, significant=bool(m.p_value < alpha), alpha=alpha
    )
