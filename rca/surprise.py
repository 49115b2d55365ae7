"""How surprising a count is: the signed root of a likelihood-ratio statistic, about a z-score."""

from __future__ import annotations

import math

__all__ = ["poisson_surprise", "two_sample_surprise"]


def poisson_surprise(observed: float, expected: float) -> float:
    """Signed square root of the Poisson deviance of ``observed`` against ``expected``.

    Parameters
    ----------
    observed : float
        Count seen in the window.
    expected : float
        Count expected from the baseline, scaled to the window length (> 0).

    Returns
    -------
    float
        About a z-score: positive for a rise, negative for a fall, 0 when equal.

    Notes
    -----
    The deviance ``2 (k ln(k/λ) − (k − λ))`` is the likelihood-ratio statistic of a Poisson count; its
    signed square root is close to normal under the null, so one threshold (e.g. 3) fits small and large
    counts alike, unlike a plain ratio.

    References
    ----------
    .. [1] McCullagh, P. and Nelder, J. *Generalized Linear Models*, 2nd ed., 1989, sec. 6.2 (deviance residuals).
    """
    if expected <= 0:
        raise ValueError(f"expected must be > 0, got {expected}")
    if observed <= 0:
        return -math.sqrt(2 * expected)
    deviance = 2 * (observed * math.log(observed / expected) - (observed - expected))
    return math.copysign(math.sqrt(max(deviance, 0.0)), observed - expected)


def two_sample_surprise(observed: float, baseline: float, scale: float) -> float:
    """Signed root of the likelihood-ratio statistic that a window and its baseline share one rate.

    Parameters
    ----------
    observed : float
        Count in the window.
    baseline : float
        Count in the baseline (not scaled).
    scale : float
        Window exposure over baseline exposure (window length, or requests served, over the
        baseline's), > 0; ``baseline * scale`` is the count the window is expected to hold.

    Returns
    -------
    float
        About a z-score, like :func:`poisson_surprise`, but the baseline is a sample too: given the
        ``observed + baseline`` lines, the window's share is binomial with ``p = scale / (1 + scale)``
        under no change. A long baseline (small ``scale``) gives :func:`poisson_surprise`'s value; a
        baseline as short as the window (one partition before) no longer counts its own chance
        variation as a change in the window.

    References
    ----------
    .. [1] Przyborowski, J. and Wilenski, H. *Homogeneity of results in testing samples from Poisson
       series*, Biometrika 31, 1940 (the conditional binomial test of two Poisson rates).
    """
    total = observed + baseline
    if total <= 0 or scale <= 0:
        return 0.0
    share = scale / (1.0 + scale)
    expected_window, expected_base = total * share, total * (1.0 - share)
    deviance = 0.0
    for count, expected in ((observed, expected_window), (baseline, expected_base)):
        if count > 0:
            deviance += count * math.log(count / expected)
    deviance = max(0.0, 2.0 * deviance)
    return math.copysign(math.sqrt(deviance), observed - expected_window)
