"""Statistics for audit scorecards: numpy + scipy only.

* ``rate_ci``          a rate (mean of 0/1 outcomes) with its Wilson score 95 % CI and n;
* ``mcnemar``          exact McNemar test on paired 0/1 outcomes: a two-sided binomial test
                       (``scipy.stats.binomtest``) of the discordant pairs against p = 1/2;
* ``newcombe_paired``  Newcombe's (1998, method 10) interval of a difference of paired proportions, built from
                       the two Wilson intervals (it replaced a percentile bootstrap, which collapsed to zero
                       width at 0 % / 100 %);
* ``compare_paired``   both of the above, plus a plain-language verdict;
* ``rate_text``        the one way every read-out (CLI, HTML report, app) writes a rate: value, CI, n, and
                       "too few" below ``MIN_N`` items.

Every interval the CLI scorecard, the HTML report and the Audit page show comes from this module.

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

DEFAULT_BOOT = 2000  # kept for old callers and saved options; no interval is bootstrapped any more
ALPHA = 0.05
MIN_N = 10  # below this many items a rate is shown, but marked (and greyed out) as "too few"
RATE_METHOD = "wilson"
DIFF_METHOD = "newcombe"


def too_few(n: int | None) -> bool:
    """True when a rate rests on fewer than ``MIN_N`` items (including none)."""
    return not n or n < MIN_N


def rate_text(rate: float | None, low: float | None, high: float | None, n: int | None) -> str:
    """``0.0 % [0.0, 56.1] · n = 3 · too few`` -- the rate, its 95 % CI and n; "too few" below ``MIN_N``."""
    if not n or rate is None or low is None or high is None or not math.isfinite(rate):
        return f"— (n = {n or 0})"
    text = f"{100 * rate:.1f} % [{100 * low:.1f}, {100 * high:.1f}] · n = {n}"
    return text + (" · too few" if too_few(n) else "")


def diff_text(delta: float | None, low: float | None, high: float | None) -> str | None:
    """``+12.0 pt [+1.9, +22.4]`` -- a paired difference with its Newcombe 95 % CI (None without one)."""
    if delta is None or not math.isfinite(delta):
        return None
    ci = "" if low is None or high is None else f" [{100 * low:+.1f}, {100 * high:+.1f}]"
    return f"{100 * delta:+.1f} pt{ci}"


@dataclass(frozen=True, kw_only=True)
class RateCI:
    """``rate`` = mean outcome over ``n`` items; ``[low, high]`` its Wilson score interval (NaN at n = 0)."""

    rate: float
    low: float
    high: float
    n: int
    k: int  # number of positive outcomes
    level: float = 0.95
    method: str = RATE_METHOD

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def too_few(self) -> bool:
        return too_few(self.n)

    def fmt(self, pct: bool = True) -> str:
        if self.n == 0:
            return "— (n = 0)"
        s = 100.0 if pct else 1.0
        unit = " %" if pct else ""
        few = ", too few" if self.too_few else ""
        return f"{self.rate * s:.1f}{unit} [{self.low * s:.1f}, {self.high * s:.1f}] (n = {self.n}{few})"


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


@dataclass(frozen=True, kw_only=True)
class PairedDiff:
    """Mean of ``b - a`` over ``n`` paired items with its Newcombe interval; ``p_value`` is the exact McNemar
    p-value of the same pairs."""

    diff: float
    low: float
    high: float
    n: int
    p_value: float
    level: float = 0.95
    method: str = DIFF_METHOD

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def newcombe_paired(
    both: int, only_b: int, only_a: int, neither: int, level: float = 0.95
) -> tuple[float, float]:
    """Interval of ``p_b - p_a`` for paired 0/1 outcomes (Newcombe 1998, Stat Med 17:2635, method 10).

    ``both`` / ``neither``: items where both subjects score 1 / 0; ``only_b`` / ``only_a``: the discordant
    pairs. The Wilson limits of each proportion are combined with the phi correlation of the 2x2 table
    (numerator shrunk by n/2 towards 0 when positive, as in the paper); (NaN, NaN) when n = 0."""
    counts = (both, only_b, only_a, neither)
    if min(counts) < 0:
        raise InputError(f"Newcombe's interval needs non-negative counts, got {counts}.")
    n = sum(counts)
    if n == 0:
        return (math.nan, math.nan)
    k_b, k_a = both + only_b, both + only_a
    p_b, p_a = k_b / n, k_a / n
    lb, ub = wilson_interval(k_b, n, level)
    la, ua = wilson_interval(k_a, n, level)
    denom = float(k_b) * (n - k_b) * k_a * (n - k_a)
    num = float(both * neither - only_b * only_a)
    num = max(num - n / 2, 0.0) if num > 0 else num
    phi = num / math.sqrt(denom) if denom > 0 else 0.0
    d = p_b - p_a
    lower = math.sqrt(max(0.0, (p_b - lb) ** 2 - 2 * phi * (p_b - lb) * (ua - p_a) + (ua - p_a) ** 2))
    upper = math.sqrt(max(0.0, (ub - p_b) ** 2 - 2 * phi * (ub - p_b) * (p_a - la) + (p_a - la) ** 2))
    return (max(-1.0, d - lower), min(1.0, d + upper))


def paired_interval(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *, level: float = 0.95
) -> PairedDiff:
    """The mean of ``b - a`` over paired items with Newcombe's interval and the exact McNemar p-value."""
    x, y = _paired(a, b)
    n = int(x.size)
    if n == 0:
        return PairedDiff(diff=math.nan, low=math.nan, high=math.nan, n=0, p_value=math.nan, level=level)
    both = int(((x == 1) & (y == 1)).sum())
    only_b = int(((x == 0) & (y == 1)).sum())
    only_a = int(((x == 1) & (y == 0)).sum())
    lo, hi = newcombe_paired(both, only_b, only_a, n - both - only_a - only_b, level)
    return PairedDiff(
        diff=float((y - x).mean()), low=lo, high=hi, n=n, p_value=mcnemar(x, y).p_value, level=level
    )


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """Subject ``b`` against subject ``a`` on the same items."""

    rate_a: float
    rate_b: float
    mcnemar: McNemar
    interval: PairedDiff  # Newcombe interval of rate_b - rate_a
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
            "interval": self.interval.to_json(),
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
    """Exact McNemar test and Newcombe interval of ``b`` against ``a`` (``n_boot`` and ``seed`` are accepted
    for old callers; unused)."""
    del n_boot, seed
    x, y = _paired(a, b)
    m = mcnemar(x, y)
    pb = paired_interval(x, y)
    ra = float(x.mean()) if x.size else math.nan
    rb = float(y.mean()) if y.size else math.nan
    return Comparison(
        rate_a=ra, rate_b=rb, mcnemar=m, interval=pb, significant=bool(m.p_value < alpha), alpha=alpha
    )
