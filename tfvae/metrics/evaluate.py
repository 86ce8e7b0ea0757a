"""`evaluate`: every metric of a model on a finite data set in one pass (METHODS.md E1-E7)."""

from __future__ import annotations

import weakref
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfvae.metrics import accumulators
from tfvae.metrics import importance
from tfvae.metrics import seeds

__all__ = ["evaluate", "standard_metrics"]


def standard_metrics(*, seed=0, num_samples=500, chunk_size=100, recon_samples=1,
                     proposal_variance_factor=1.0, au_threshold=0.01, true_kl_samples=0,
                     mi_entropy="analytic", decode_budget=importance.DECODE_BUDGET):
  """The metrics `evaluate` runs for every model, with its arguments (see there)."""
  metrics = [
    accumulators.ImportanceWeightedNLL(num_samples, chunk_size,
                                       proposal_variance_factor=proposal_variance_factor,
                                       decode_budget=decode_budget),
    accumulators.ELBOTerms(recon_samples),
    accumulators.MutualInformation(seeds.fold_in(seeds.stateless_seed(seed),
                                                 seeds.MUTUAL_INFORMATION), mi_entropy),
    accumulators.ActiveUnits(au_threshold),
    accumulators.PosteriorDiversity(),
  ]
  if true_kl_samples:
    metrics.append(accumulators.TrueKL(true_kl_samples, chunk_size, decode_budget=decode_budget))
  return metrics


def _check_names(metrics):
  names = [metric.name for metric in metrics]
  repeated = sorted({name for name in names if names.count(name) > 1})
  if repeated:
    raise ValueError(f"evaluation metrics with the same name: {repeated}; a model's "
                     "extra_metrics() must not reuse the names of the standard ones")


def _merge(results, metric):
  for key, value in metric.result().items():
    if key in results:
      raise ValueError(f"metric '{metric.name}' returns '{key}', which another metric "
                       "already returned; give it another name")
    results[key] = value


def _num_batches(dataset):
  """The number of batches of `dataset` when it is known, else None."""
  if isinstance(dataset, tf.data.Dataset):
    cardinality = int(dataset.cardinality())
    return cardinality if cardinality >= 0 else None
  return len(dataset) if hasattr(dataset, "__len__") else None


def _first_element(batch):
  return batch[0] if isinstance(batch, (tuple, list)) else batch


# model -> {settings: traced step}: a model evaluated again with the same
# settings (every epoch, `EpochMetrics`) reuses its traced step.
_TRACED_STEPS = weakref.WeakKeyDictionary()


def _traced_step(model, metrics, settings):
  """The traced per-batch function of `metrics` on `model`: (values by metric name, batch size).

  Traced once per model and settings. A metric's `batch_values` depends only on
  its constructor arguments (which `settings` and the metrics' names and types
  fix), so later calls pass their values to fresh metric objects.
  """
  key = (tuple(sorted((name, repr(value)) for name, value in settings.items())),
         tuple((type(metric), metric.name) for metric in metrics))
  steps = _TRACED_STEPS.setdefault(model, {})
  if key not in steps:
    @tf.function(reduce_retracing=True, autograph=False)
    def step(x, batch_seed):
      batch = accumulators.Batch(model, x, model.posterior(x, training=False), batch_seed)
      return {metric.name: metric.batch_values(batch) for metric in metrics}, batch.size

    steps[key] = step
  return steps[key]


def evaluate(model, dataset, *, num_samples: int = 500, chunk_size: int = 100, seed=0,
             count_tokens: Callable | None = None, recon_samples: int = 1,
             proposal_variance_factor: float = 1.0, au_threshold: float = 0.01,
             true_kl_samples: int = 0, mi_entropy: str = "analytic",
             decode_budget: int | None = importance.DECODE_BUDGET, verbose: int = 0) -> dict:
  """E1-E7 and the model's own metrics on a finite dataset in one pass; per-example averages.

  For each batch x (an element of `dataset`; a tuple/list element is read as
  (x, ...)) one traced step computes q(z|x) once and every metric's batch
  values (`tfvae.metrics.accumulators`); the metrics accumulate them eagerly
  and give their results at the end.

  Returned dict (python floats / ints, None for "n/a"; averages over
  examples, for text per sentence):
    nll: -mean IW estimate of log p(x), K = `num_samples` (E1; Shen et al.
      (2021) use 500).
    elbo, neg_elbo, recon, kl: the ELBO's terms (E3), recon from
      `recon_samples` samples of q(z|x); kl in closed form where TFP has one,
      else Monte Carlo on those samples.
    mi_batch, mi_aggregate: He et al.'s MI, per batch (what Fang et al. (2019)
      and Shen et al. (2021) report) and over the whole set (E4; None but for
      diagonal Gaussians).
    au: active units at `au_threshold` (E5).
    mpd, conditional_entropy: Shen et al.'s (2021) mutual posterior
      divergence (eqs. 2-3; pairs of independent draws from the set) and
      H_q(z|x) (eqs. 4-5), in nats (E7; None but for diagonal Gaussians).
    num_examples: N.
    true_kl (with `true_kl_samples` = K > 0): mean U - S estimate of
      KL(p(z|x) || p(z)) (E6).
    num_tokens, ppl (E2: exp(sum NLL / sum tokens)), elbo_ppl (with
      `count_tokens`, a function x -> [B] predicted tokens per example, end
      of sentence included, called eagerly on each batch).
    The results of `model.extra_metrics()`, if the model has any.

  A model whose posterior has no density (`posterior_has_density = False`)
  gets recon and AU from samples, kl from its `estimate_kl`, nll, ppl and
  both MI forms through its `density_surrogate` (the importance proposal and
  the encoder of the MI estimate; without one, nll and ppl are None and
  mi_batch comes from `estimate_mutual_information`), and None for true_kl,
  mpd and conditional_entropy.

  Seeds (`tfvae.metrics.seeds`): s = stateless_seed(seed); batch b uses
  s_b = fold_in(fold_in(s, 0), b) and its streams (importance samples 0,
  reconstruction 1, true KL 2, Monte-Carlo means 3, MI samples 4, a
  density surrogate 5); both MI
  forms use fold_in(s, 1) on the collected [N, d] posteriors.

  Args:
    model: a model keeping the tfvae contract.
    dataset: finite iterable of batches (usually a tf.data.Dataset).
    num_samples: K for E1.
    chunk_size: importance samples per chunk (memory).
    seed: int or [2] seed.
    count_tokens: optional per-example token counter for PPL.
    recon_samples: samples of q(z|x) for the reconstruction term.
    proposal_variance_factor: IW proposal variance inflation (2 for Yacoby et
      al. (2020)).
    au_threshold: AU threshold (0.01 in Shen et al. (2021)).
    true_kl_samples: K of the true-posterior KL; 0 skips it.
    mi_entropy: the `entropy` of both MI estimates ("analytic", He et al.'s,
      what the papers report; "sampled", lower variance, same expectation).
    decode_budget: the most samples x data elements per decoder call
      (`importance.decoder_log_prob`): bounds memory, same numbers.
    verbose: 1 shows a progress bar over the batches (with the time left when
      the dataset knows its length), 2 one line per batch, 0 nothing.
  """
  settings = dict(
    seed=seed, num_samples=num_samples, chunk_size=chunk_size, recon_samples=recon_samples,
    proposal_variance_factor=proposal_variance_factor, au_threshold=au_threshold,
    true_kl_samples=true_kl_samples, mi_entropy=mi_entropy, decode_budget=decode_budget)
  metrics = standard_metrics(**settings)
  metrics += list(getattr(model, "extra_metrics", lambda: ())())
  _check_names(metrics)
  step = _traced_step(model, metrics, settings)
  batch_root = seeds.fold_in(seeds.stateless_seed(seed), seeds.BATCH)

  num_examples, tokens = 0, []
  progress = keras.utils.Progbar(_num_batches(dataset), verbose=verbose, unit_name="batch",
                                 stateful_metrics=["examples"])
  for index, element in enumerate(dataset):
    x = _first_element(element)
    values, size = step(x, seeds.fold_in(batch_root, index))
    for metric in metrics:
      metric.update({key: value.numpy() for key, value in values[metric.name].items()})
    num_examples += int(size)
    if count_tokens is not None:
      counts = np.asarray(count_tokens(x)).astype(np.int64).reshape([-1])
      if counts.shape[0] != int(size):
        raise ValueError(f"count_tokens returned {counts.shape[0]} counts for a batch of {size}")
      tokens.append(counts)
    progress.update(index + 1, values=[("examples", num_examples)])
  if not num_examples:
    raise ValueError("evaluate needs a non-empty dataset")

  results = {}
  for metric in metrics:
    _merge(results, metric)
  results["num_examples"] = num_examples
  if count_tokens is not None:
    num_tokens = int(np.sum(np.concatenate(tokens)))
    results["num_tokens"] = num_tokens
    for name, per_example in (("ppl", results["nll"]), ("elbo_ppl", results["neg_elbo"])):
      results[name] = (None if per_example is None
                       else float(np.exp(per_example * num_examples / num_tokens)))
  logging.info("evaluate: %s", results)
  return results
