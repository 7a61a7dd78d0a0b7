"""Survival losses of the neural models: pure functions of ``(risk, event, time)`` tensors.

``risk`` has shape ``(..., n)``: the last axis is the ``n`` patients, every leading index is an
independent model scored on the same patients (the configurations of a batched grid). Each loss
returns one value per leading index, so ``loss.sum()`` back-propagates every model's own loss
into its own parameters.

* :func:`pairwise_ranking_loss`, the paper's Section 4.1:
  ``Σ_i Σ_{j: t_j > t_i} log(1 + exp(f(x_j) − f(x_i)))``. ``i`` runs over patients with the
  event only: a censored ``i`` has no known order against a later ``j``, so it is no comparable
  pair (the same pairs as the C-index). Equal times are not ordered (strict ``>``). The sum is
  averaged over the comparable pairs, so the loss scale does not depend on the batch.
* :func:`cox_partial_likelihood_loss`: the negative Cox partial log-likelihood with Breslow's
  handling of tied times, averaged over events. torchsurv's implementation takes one risk
  vector and branches on its values, so it cannot score a grid of models in one call; this one
  is checked against scikit-survival's Breslow likelihood in the tests.

A batch without a comparable pair carries no ranking information: both raise
:class:`NoComparablePairsError` instead of returning a silent zero.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from radiogenomics_assets.survival.metrics import NoComparablePairsError
from radiogenomics_assets.survival.protocol import LossName


class LossInputError(ValueError):
    """Risk, event and time tensors do not line up."""


def _patients(risk: torch.Tensor, event: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
    if risk.ndim < 1:
        raise LossInputError(f"risk must have a patient axis, got shape {tuple(risk.shape)}")
    n = risk.shape[-1]
    if event.shape != (n,) or time.shape != (n,):
        raise LossInputError(
            f"risk has {n} patients on its last axis but event has shape {tuple(event.shape)} "
            f"and time {tuple(time.shape)}"
        )
    if event.dtype != torch.bool:
        raise LossInputError(f"event must be a bool tensor, got {event.dtype}")
    return event


def comparable_pairs(event: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
    """``[i, j]`` is True when patient ``i`` had the event strictly before ``j``'s time."""
    return event[:, None] & (time[None, :] > time[:, None])


def pairwise_ranking_loss(
    risk: torch.Tensor, event: torch.Tensor, time: torch.Tensor
) -> torch.Tensor:
    """The paper's pairwise ranking loss, averaged over comparable pairs (module docstring).

    Args:
        risk: ``(..., n)`` predicted risks (higher = earlier recurrence).
        event: ``(n,)`` bool, the recurrence was observed.
        time: ``(n,)`` follow-up times.

    Returns:
        The loss of every leading index, shape ``risk.shape[:-1]``.

    Raises:
        LossInputError: shapes or dtypes do not line up.
        NoComparablePairsError: no event precedes another patient's time.
    """
    event = _patients(risk, event, time)
    pairs = comparable_pairs(event, time)
    n_pairs = int(pairs.sum())
    if n_pairs == 0:
        raise NoComparablePairsError(
            f"no comparable pair among {len(event)} patients ({int(event.sum())} events): "
            "the ranking loss is undefined"
        )
    # margin[..., i, j] = f(x_j) − f(x_i): positive when a later patient is ranked riskier.
    margin = risk[..., None, :] - risk[..., :, None]
    terms = torch.where(pairs, F.softplus(margin), torch.zeros((), dtype=risk.dtype))
    return terms.sum(dim=(-2, -1)) / n_pairs


def cox_partial_likelihood_loss(
    risk: torch.Tensor, event: torch.Tensor, time: torch.Tensor
) -> torch.Tensor:
    """Negative Cox partial log-likelihood (Breslow ties), averaged over events.

    For each event ``i``: ``log Σ_{j: t_j ≥ t_i} exp(f(x_j)) − f(x_i)``.

    Raises:
        LossInputError: shapes or dtypes do not line up.
        NoComparablePairsError: no event has another patient in its risk set.
    """
    event = _patients(risk, event, time)
    at_risk = time[None, :] >= time[:, None]
    informative = event & (at_risk.sum(dim=1) > 1)
    if not bool(informative.any()):
        raise NoComparablePairsError(
            f"no event among {len(event)} patients ({int(event.sum())} events) has another "
            "patient at risk: the partial likelihood carries no information"
        )
    masked = torch.where(at_risk, risk[..., None, :], torch.full((), -torch.inf, dtype=risk.dtype))
    log_denominator = torch.logsumexp(masked, dim=-1)
    return (log_denominator - risk)[..., event].mean(dim=-1)


LOSSES: dict[LossName, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "pairwise": pairwise_ranking_loss,
    "cox": cox_partial_likelihood_loss,
}
