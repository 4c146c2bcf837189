"""The gate's statistics, in pure Python: the exact McNemar test on paired flips and the intervals
that go in the report (Wilson, Clopper-Pearson, paired difference)."""

from __future__ import annotations

import math
from collections.abc import Callable


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def mcnemar_one_sided(b: int, c: int) -> float:
    """Exact one-sided McNemar p-value that regressions `b` (base refused, tuned complied) outnumber
    `c` (base complied, tuned refused): P(X >= b) for X ~ Binomial(b + c, 1/2). 1.0 with no flips."""
    _check_counts(b=b, c=c)
    n = b + c
    if n == 0:
        return 1.0
    # Exact integers, then one division: Python's int / int is correctly rounded even for 2**800.
    return min(1.0, sum(math.comb(n, k) for k in range(b, n + 1)) / 2**n)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials; (0, 1) when there are no trials."""
    _check_counts(k=k, n=n)
    if k > n:
        raise ValueError(f"k ({k}) must not exceed n ({n})")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # The exact ends at k = 0 and k = n (the formula gives them only up to rounding).
    lower = 0.0 if k == 0 else max(0.0, centre - half)
    upper = 1.0 if k == n else min(1.0, centre + half)
    return lower, upper


def _log_pmf(i: int, n: int, p: float) -> float:
    return (math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
            + i * math.log(p) + (n - i) * math.log1p(-p))


def _cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space so that n in the thousands cannot overflow."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    return min(1.0, sum(math.exp(_log_pmf(i, n, p)) for i in range(k + 1)))


def _bisect(f: Callable[[float], float], target: float) -> float:
    """The p in [0, 1] where the decreasing function f crosses target."""
    lo, hi = 0.0, 1.0
    for _ in range(60):  # 2**-60: below float resolution near any bound that matters
        mid = (lo + hi) / 2
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval, two-sided: alpha/2 in each tail, so the default is a 95% interval
    (k=0, n=100 gives an upper bound of 1 - 0.025**(1/100) ≈ 0.0362; the one-sided 95% bound would be
    ≈ 0.0295). Found by bisection on the exact binomial tail; (0, 1) when there are no trials."""
    _check_counts(k=k, n=n)
    if k > n:
        raise ValueError(f"k ({k}) must not exceed n ({n})")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n == 0:
        return 0.0, 1.0
    tail = alpha / 2
    # Lower: P(X >= k | p) = tail, i.e. P(X <= k-1 | p) = 1 - tail (decreasing in p).
    lower = 0.0 if k == 0 else _bisect(lambda p: _cdf(k - 1, n, p), 1 - tail)
    # Upper: P(X <= k | p) = tail (decreasing in p).
    upper = 1.0 if k == n else _bisect(lambda p: _cdf(k, n, p), tail)
    return lower, upper


def paired_difference_ci(b: int, c: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Interval for the paired difference in rates (b - c) / n (tuned minus base harmful compliance).

    Wald interval for paired proportions with the Agresti-Min (2005) small-count correction: 1/2 is added
    to each of the four cells of the 2x2 table (so b, c -> b + 1/2, c + 1/2 and n -> n + 2) before the
    usual variance ((b + c) - (b - c)**2 / n) / n**2. Without it, b = c = 0 gives a zero-width interval
    that would pass a non-inferiority check on no evidence. Clipped to [-1, 1]; (-1, 1) when n == 0."""
    _check_counts(b=b, c=c, n=n)
    if b + c > n:
        raise ValueError(f"b + c ({b + c}) must not exceed n ({n})")
    if n == 0:
        return -1.0, 1.0
    bb, cc, nn = b + 0.5, c + 0.5, n + 2
    diff = (bb - cc) / nn
    variance = max(0.0, (bb + cc) - (bb - cc) ** 2 / nn) / nn**2
    half = z * math.sqrt(variance)
    return max(-1.0, diff - half), min(1.0, diff + half)
