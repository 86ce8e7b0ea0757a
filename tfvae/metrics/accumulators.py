"""The metrics of `evaluate` as accumulators: per-batch tensors, eager totals, one result.

A metric keeps the `Metric` protocol:

  name                   its key among the evaluation step's outputs;
  batch_values(batch)    inside the traced evaluation step: a dict of tensors
                         for one batch, computed from `batch` (a `Batch`);
                         it changes no Python state (what a metric decides
                         while tracing, it returns as a value) and depends
                         only on the metric's constructor arguments, so
                         `evaluate` reuses the traced step of an earlier
                         call with the same settings;
  update(values)         eagerly, with those tensors as numpy arrays;
  result()               at the end: {result name: float, int or None ("n/a")}.

`evaluate` runs the standard metrics below and those of `model.extra_metrics()`,
a model's own (e.g. the VQ-VAE's codebook usage). Standard metrics (METHODS.md
E1-E7) each handle the three kinds of posterior: diagonal Gaussians (fast
paths from the parameters), any other posterior with a density (through
`log_prob`, Monte-Carlo means) and posteriors without density (the model's own
estimates, `None` for what needs log q(z|x)).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any
from typing import Protocol

import numpy as np
import tensorflow as tf
from absl import logging

from tfvae.metrics import diversity
from tfvae.metrics import importance
from tfvae.metrics import information
from tfvae.metrics import seeds
from tfvae.metrics import units
from tfvae.metrics.densities import is_diagonal_gaussian

__all__ = [
  "ActiveUnits",
  "Batch",
  "ELBOTerms",
  "ImportanceWeightedNLL",
  "Metric",
  "MutualInformation",
  "PosteriorDiversity",
  "TrueKL",
]


@dataclasses.dataclass(frozen=True)
class Batch:
  """What a metric reads of one batch inside the traced evaluation step.

  Attributes:
    model: the model (keeps the tfvae contract).
    x: the batch [B, ...].
    posterior: q(z|x), computed once for every metric.
    seed: the batch's stateless [2] seed (`seeds` describes its streams).
  """

  model: Any
  x: tf.Tensor
  posterior: Any
  seed: tf.Tensor

  def seed_for(self, stream: int) -> tf.Tensor:
    """The batch's independent seed number `stream` (`tfvae.metrics.seeds`)."""
    return seeds.fold_in(self.seed, stream)

  @property
  def has_density(self) -> bool:
    return getattr(self.model, "posterior_has_density", True)

  def density_or_surrogate(self):
    """q(z|x) if it has a density, else the model's `density_surrogate` (None if it has none)."""
    if self.has_density:
      return self.posterior
    return self.model.density_surrogate(self.x, seed=self.seed_for(seeds.SURROGATE))

  @property
  def size(self) -> tf.Tensor:
    return tf.shape(self.x)[0]


class Metric(Protocol):
  """An evaluation metric (see the module docstring)."""

  name: str

  def batch_values(self, batch: Batch) -> dict[str, tf.Tensor]: ...

  def update(self, values: dict[str, np.ndarray]) -> None: ...

  def result(self) -> dict[str, float | int | None]: ...


class _Collected:
  """Keeps every batch's values, per key, as float64 arrays (the standard metrics' update)."""

  def __init__(self):
    self._values = defaultdict(list)

  def update(self, values):
    for key, value in values.items():
      self._values[key].append(np.atleast_1d(np.asarray(value, np.float64)))

  def collected(self, key):
    """Every batch's values of `key` concatenated, or None when no batch gave any."""
    return np.concatenate(self._values[key]) if self._values[key] else None

  def mean(self, key):
    values = self.collected(key)
    return None if values is None else float(np.mean(values))


class ImportanceWeightedNLL(_Collected):
  """nll: -mean over examples of the IW estimate of log p(x) (E1, `importance.iw_log_likelihood`).

  A posterior without density is replaced by the model's `density_surrogate`
  as the proposal (any proposal gives a consistent estimate); None if it has none.
  """

  name = "iw_nll"

  def __init__(self, num_samples, chunk_size, *, proposal_variance_factor=1.0,
               decode_budget=importance.DECODE_BUDGET):
    super().__init__()
    self.num_samples = num_samples
    self.chunk_size = chunk_size
    self.proposal_variance_factor = proposal_variance_factor
    self.decode_budget = decode_budget

  def batch_values(self, batch):
    proposal = batch.density_or_surrogate()
    if proposal is None:
      return {}
    log_px = importance.iw_log_likelihood(
      batch.model, batch.x, self.num_samples, self.chunk_size, batch.seed_for(seeds.IMPORTANCE),
      proposal_variance_factor=self.proposal_variance_factor, decode_budget=self.decode_budget,
      posterior=proposal)
    return {"log_px": log_px}

  def result(self):
    log_px = self.collected("log_px")
    return {"nll": None if log_px is None else -float(np.mean(log_px))}


class ELBOTerms(_Collected):
  """recon, kl, neg_elbo and elbo per example (E3).

  recon = -E_q log p(x|z) from `recon_samples` samples of q(z|x); kl through
  `tfvae.divergences.kl` (closed form when TFP registers one, else Monte Carlo
  on those samples), or the model's `estimate_kl` for a posterior without
  density (None when it has none, and then no ELBO either).
  """

  name = "elbo"

  def __init__(self, recon_samples=1):
    super().__init__()
    self.recon_samples = int(recon_samples)

  def batch_values(self, batch):
    seed = batch.seed_for(seeds.RECONSTRUCTION)
    z = batch.posterior.sample(self.recon_samples, seed=seed)
    log_likelihood = batch.model.likelihood(z, batch.x, training=False).log_prob(batch.x)
    values = {"recon": -tf.reduce_mean(log_likelihood, axis=0)}
    if batch.has_density:
      values["kl"], analytic = information.kl_to_prior(batch.posterior, batch.model.prior,
                                                       samples=z)
      values["monte_carlo_kl"] = tf.constant(not analytic)
    else:
      kl = batch.model.estimate_kl(batch.x, seed=seed)
      if kl is not None:
        values["kl"] = kl
    return values

  def result(self):
    recon, kl = self.mean("recon"), self.mean("kl")
    if self.collected("monte_carlo_kl") is not None and self.collected("monte_carlo_kl").any():
      logging.info("evaluate: no analytic KL(q||p) registered; KL is a %d-sample Monte-Carlo "
                   "estimate", self.recon_samples)
    neg_elbo = None if kl is None else recon + kl
    return {"elbo": None if neg_elbo is None else -neg_elbo, "neg_elbo": neg_elbo,
            "recon": recon, "kl": kl}


class TrueKL(_Collected):
  """true_kl: the mean estimate U - S of KL(p(z|x) || p(z)) from K samples (E6).

  Its mean over the data estimates the model's I(X; Z) (Melis et al. (2022),
  section 7.1.2, use K = 100). None without a posterior density.
  """

  name = "true_kl"

  def __init__(self, num_samples, chunk_size, *, decode_budget=importance.DECODE_BUDGET):
    super().__init__()
    self.num_samples = num_samples
    self.chunk_size = chunk_size
    self.decode_budget = decode_budget

  def batch_values(self, batch):
    if not batch.has_density:
      return {}
    return {"true_kl": importance.true_kl(
      batch.model, batch.x, self.num_samples, batch.seed_for(seeds.TRUE_KL),
      chunk_size=self.chunk_size, decode_budget=self.decode_budget, posterior=batch.posterior)}

  def result(self):
    return {"true_kl": self.mean("true_kl")}


class MutualInformation(_Collected):
  """mi_batch and mi_aggregate: He et al.'s (2019) MI estimate I_q(x; z) (E4).

  Diagonal Gaussians: from the collected parameters of all N posteriors, per
  batch (`information.mutual_information_per_batch`, what Fang et al. (2019) and
  Shen et al. (2021) report) and with the whole-set mixture
  (`information.mutual_information`), both with the same noise, seed `seed`, so
  they do not depend on the batching order.
  Any other posterior with a density: the per-batch estimate through log_prob
  (`information.batch_mutual_information`, sampled entropy); a posterior
  without density: that of the model's `density_surrogate` (the MI of the
  surrogate encoder), else the model's `estimate_mutual_information`. Per-batch
  values are averaged weighted by batch size; mi_aggregate is then None (the
  mixture would need every posterior at once).
  """

  name = "mi"

  def __init__(self, seed, entropy="analytic"):
    super().__init__()
    self.seed = seed
    self.entropy = entropy

  def batch_values(self, batch):
    posterior = batch.density_or_surrogate()
    if posterior is not None and is_diagonal_gaussian(posterior):
      return {"loc": posterior.mean(), "scale": posterior.stddev()}
    sample_seed = batch.seed_for(seeds.MI_SAMPLE)
    if posterior is not None:
      mi = information.batch_mutual_information(posterior, posterior.sample(seed=sample_seed),
                                                 entropy="sampled")
    else:
      mi = batch.model.estimate_mutual_information(batch.x, seed=sample_seed)
    return {} if mi is None else {"mi": mi, "size": batch.size}

  def result(self):
    loc = self.collected("loc")
    if loc is not None:
      scale = self.collected("scale")
      sizes = [len(values) for values in self._values["loc"]]
      return {
        "mi_batch": float(information.mutual_information_per_batch(
          loc, scale, sizes, self.seed, entropy=self.entropy)),
        "mi_aggregate": float(information.mutual_information(
          loc, scale, self.seed, entropy=self.entropy)),
      }
    mi = self.collected("mi")
    mi_batch = None if mi is None else float(np.average(mi, weights=self.collected("size")))
    return {"mi_batch": mi_batch, "mi_aggregate": None}


class ActiveUnits(_Collected):
  """au: the number of latent coordinates whose posterior mean varies over the data (E5).

  From `posterior.mean()` where it has a closed form, else a 100-sample
  Monte-Carlo mean whose sampling noise `units.active_units` subtracts (e.g.
  IAF, as in Shen et al. (2021), table 1; implicit posteriors).
  """

  name = "au"

  def __init__(self, threshold=0.01):
    super().__init__()
    self.threshold = threshold

  def batch_values(self, batch):
    mean, noise = units.posterior_means(batch.posterior, batch.seed_for(seeds.POSTERIOR_MEAN))
    return {"mean": mean} if noise is None else {"mean": mean, "noise": noise}

  def result(self):
    count, _ = units.active_units(self.collected("mean"), self.threshold,
                                  mean_noise=self.collected("noise"))
    return {"au": int(count)}


class PosteriorDiversity:
  """mpd and conditional_entropy: the diversity and uncertainty of the latent space (E7).

  Shen et al. (2021), eqs. 2-5 (`tfvae.metrics.diversity`), from running
  per-dimension sums of the posteriors' parameters: O(d) memory whatever the
  set's size, and independent of the batching. Both are defined for diagonal
  Gaussian posteriors only, None ("n/a") for any other.
  """

  name = "diversity"

  def __init__(self):
    self._moments = None

  def batch_values(self, batch):
    posterior = batch.posterior
    if batch.has_density and is_diagonal_gaussian(posterior):
      return {"loc": posterior.mean(), "scale": posterior.stddev()}
    return {}

  def update(self, values):
    if not values:
      return
    moments = diversity.posterior_moments(values["loc"], values["scale"])
    self._moments = moments if self._moments is None else self._moments + moments

  def result(self):
    if self._moments is None:
      return {"mpd": None, "conditional_entropy": None}
    return {"mpd": diversity.mutual_posterior_divergence(self._moments),
            "conditional_entropy": diversity.conditional_entropy(self._moments)}
