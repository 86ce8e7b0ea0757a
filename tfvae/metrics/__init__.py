"""Evaluation metrics shared by every tfvae model (METHODS.md section 2, E1-E7, E11).

Every metric uses only the model contract of ARCHITECTURE.md section 2:

    model.posterior(x, training=False) -> q(z|x), batch [B], event [d]
    model.prior                        -> p(z), batch [], event [d]
    model.likelihood(z, x, training=False).log_prob(x) -> [K, B] for z [K, B, d]

Modules, one job each:

  seeds         stateless seeds and the streams derived from them;
  densities     log q(z|x) with errors that name the metric, the Gaussian test;
  chunks        memory-bounded computation, one chunk at a time;
  importance    the one chunked importance sampler: IW-NLL (E1; Burda et al.
                2016, eq. 8) and the true-posterior KL (E6; Melis et al.
                (2022), eq. 12);
  information   KL to the prior (E3) and He et al.'s (2019) MI (E4);
  units         active units (E5, Shen et al. (2021), section 4);
  diversity     the mutual posterior divergence and the conditional entropy
                of diagonal Gaussian posteriors (E7; Shen et al. (2021), eqs.
                2-5), from running sums of their parameters;
  pareto        the NLL-MI Pareto front of a sweep (E11);
  two_sample    the smooth k-NN two-sample statistic (E9; Djolonga and Krause
                (2017)) between samples of p(x) and of a model's p_theta(x);
  accumulators  the metric objects `evaluate` updates batch by batch;
  evaluate      the one-pass evaluation of a model (E1-E7 and its own metrics).

Random numbers are stateless: every function takes `seed`, an int or a [2]
integer tensor, and derives sub-seeds with `stateless_fold_in`, so results are
exactly reproducible. Metrics that need the density q(z|x) raise a ValueError
naming the metric when the posterior has none (implicit posteriors, M9);
`evaluate` reports None ("n/a") for them and asks the model for its own
estimates.
"""

from tfvae.metrics.accumulators import Batch
from tfvae.metrics.accumulators import Metric
from tfvae.metrics.diversity import GaussianMoments
from tfvae.metrics.diversity import conditional_entropy
from tfvae.metrics.diversity import mutual_posterior_divergence
from tfvae.metrics.diversity import posterior_moments
from tfvae.metrics.evaluate import evaluate
from tfvae.metrics.evaluate import standard_metrics
from tfvae.metrics.importance import DECODE_BUDGET
from tfvae.metrics.importance import decoder_log_prob
from tfvae.metrics.importance import importance_posterior_mean
from tfvae.metrics.importance import inflate_proposal
from tfvae.metrics.importance import iw_log_likelihood
from tfvae.metrics.importance import log_importance_weights
from tfvae.metrics.importance import log_marginal_and_true_kl
from tfvae.metrics.importance import true_kl
from tfvae.metrics.information import MI_ENTROPY
from tfvae.metrics.information import batch_mutual_information
from tfvae.metrics.information import kl_to_prior
from tfvae.metrics.information import mutual_information
from tfvae.metrics.information import mutual_information_per_batch
from tfvae.metrics.pareto import pareto_front
from tfvae.metrics.seeds import stateless_seed
from tfvae.metrics.two_sample import SmoothKnnSummary
from tfvae.metrics.two_sample import averaged_smooth_knn
from tfvae.metrics.two_sample import smooth_knn_statistic
from tfvae.metrics.units import active_units
from tfvae.metrics.units import monte_carlo_mean
from tfvae.metrics.units import posterior_means

__all__ = [
  "DECODE_BUDGET",
  "MI_ENTROPY",
  "Batch",
  "GaussianMoments",
  "Metric",
  "SmoothKnnSummary",
  "active_units",
  "averaged_smooth_knn",
  "batch_mutual_information",
  "conditional_entropy",
  "decoder_log_prob",
  "evaluate",
  "importance_posterior_mean",
  "inflate_proposal",
  "iw_log_likelihood",
  "kl_to_prior",
  "log_importance_weights",
  "log_marginal_and_true_kl",
  "monte_carlo_mean",
  "mutual_information",
  "mutual_information_per_batch",
  "mutual_posterior_divergence",
  "pareto_front",
  "posterior_means",
  "posterior_moments",
  "smooth_knn_statistic",
  "standard_metrics",
  "stateless_seed",
  "true_kl",
]
