"""Monte-Carlo bounds of ln p(x) and their gradient estimators (METHODS.md M23).

Every base estimator of Melis et al. (2022) has the form
S^K = ln (1/K) sum_k f(x, z_k) with z_1..z_K drawn from the proposal q(z|x)
(Melis et al. (2022), section 4.1), except the ELBO, whose KL term is
analytic. What tells the estimators apart is the gradient they give, so each
is written as a *surrogate*: a [B] tensor whose
value is the estimate and whose gradient (by autodiff, with respect to the
decoder, the prior and the encoder alike) is the estimator's gradient.

  elbo       mean_k ln p(x|z_k) - KL(q(z|x) || p(z)) with the analytic KL;
             reparameterised samples (Kingma and Welling 2014).
  iwae       ln (1/K) sum_k w_k, w_k = p(x, z_k) / q(z_k|x), differentiated
             through everything (Burda et al. 2016).
  stl        as iwae with q's parameters held fixed inside ln q(z_k|x), so the
             encoder's gradient comes through z only (Roeder et al. 2017,
             "sticking the landing"). Unbiased for K = 1 only; for K > 1 its
             encoder gradient is biased (Tucker et al. 2018 section 3).
  dreg       the doubly reparameterised gradient (Tucker et al. 2018 eq. 7):
             the decoder and prior get the IWAE gradient
             sum_k w~_k d ln p(x, z_k), the encoder gets
             sum_k w~_k^2 d ln w_k / dz_k  dz_k / dphi, w~ the normalised
             weights. Equal to stl for K = 1.
  reinforce  score-function gradient of the whole objective (Williams 1987),
             for latents without a reparameterisation (categorical): every
             sample's learning signal is the objective's estimate.
  vimco      the same with the leave-one-out baselines of Mnih and Rezende
             (2016): sample k's signal is the estimate minus the estimate
             with sample k's terms replaced by the mean of the others' (the
             geometric mean of the others' weights). Needs K >= 2; with
             K = 1 the paper uses reinforce.

Each bound also has a "power" version S_alpha^K, the same estimator with
p(x|z) replaced by p(x|z)^alpha (Melis et al. (2022), section 4.2.1): every
log term of ln p(x|z) is scaled by alpha, the samples are reused.

How DReG is wired into one surrogate: the decoder runs once on
[stop_gradient(z); z] (2K samples), which gives ln p(x|z_k) with only the
decoder-weight path (z held) and with every path; their difference has value
zero and only the z path. The surrogate weights the first by w~_k and the
second by w~_k^2, both held constant.

Score-function estimators are applied by `score_function_surrogate` to the
*objective* (the KL, Renyi or power objective of Melis et al. (2022) is a
function of the same per-sample terms), because their learning signal is the
objective's value.
"""

from typing import Callable
from typing import NamedTuple
from typing import Optional

import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import divergences
from tfvae.objectives.choices import ESTIMATORS
from tfvae.objectives.choices import REPARAMETERISED_ESTIMATORS as REPARAMETERISED
from tfvae.objectives.choices import SCORE_FUNCTION_ESTIMATORS as SCORE_FUNCTION

tfd = tfp.distributions


class SampleTerms(NamedTuple):
  """Per-sample log densities of K proposal samples, each [K, B].

  log_likelihood: ln p(x|z_k); for reparameterised samples it carries the
    decoder path and the path through z.
  log_prior: ln p(z_k), same paths.
  log_proposal: ln q(z_k|x) with the encoder-parameter path (and the path
    through z for reparameterised samples).
  log_proposal_path: ln q(z_k|x) with q's parameters held, only the path
    through z (stl, dreg); None otherwise.
  log_likelihood_held: ln p(x|z_k) with z held, only the decoder path (dreg);
    None otherwise.
  log_prior_held: ln p(z_k) with z held (dreg); None otherwise.
  kl: analytic KL(q(z|x) || p(z)) [B] (elbo); None otherwise.
  """
  log_likelihood: tf.Tensor
  log_prior: tf.Tensor
  log_proposal: tf.Tensor
  log_proposal_path: Optional[tf.Tensor] = None
  log_likelihood_held: Optional[tf.Tensor] = None
  log_prior_held: Optional[tf.Tensor] = None
  kl: Optional[tf.Tensor] = None

  @property
  def num_samples(self):
    return self.log_likelihood.shape[0]

  def first(self, count):
    """The terms of the first `count` samples (the "N/M" sample counts of Melis et al.
    (2022))."""
    return SampleTerms(*[value if value is None or name == "kl" else value[:count]
                         for name, value in zip(self._fields, self)])

  def log_weights(self, alpha=1.0):
    """ln p(x|z_k)^alpha p(z_k) / q(z_k|x), [K, B], with every gradient path."""
    return alpha * self.log_likelihood + self.log_prior - self.log_proposal


def check_estimator(estimator, num_samples):
  """Raises ValueError for an unknown estimator or a sample count it cannot use."""
  if estimator not in ESTIMATORS:
    raise ValueError(f"Unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}.")
  if num_samples < 1:
    raise ValueError(f"The number of samples must be >= 1, got {num_samples}.")
  if estimator == "vimco" and num_samples < 2:
    raise ValueError("VIMCO's leave-one-out baseline needs at least 2 samples; with 1 sample "
                     "use estimator='reinforce' (Melis et al. (2022), section 7.1.5).")


def _held_parameters(posterior):
  """q(z|x) with its parameters held constant (no gradient to the encoder)."""
  if isinstance(posterior, tfd.PowerSpherical):
    return tfd.PowerSpherical(tf.stop_gradient(posterior.mean_direction),
                              tf.stop_gradient(posterior.concentration))
  if not (isinstance(posterior, tfd.Independent) and isinstance(posterior.distribution, tfd.Normal)):
    raise ValueError("stl and dreg hold q's parameters fixed and need a diagonal-Gaussian "
                     "(tfd.Independent(tfd.Normal)) or power-spherical posterior, got "
                     f"{type(posterior).__name__}.")
  normal = posterior.distribution
  held = tfd.Normal(tf.stop_gradient(normal.loc), tf.stop_gradient(normal.scale))
  return tfd.Independent(held, posterior.reinterpreted_batch_ndims)


def _draw(model, posterior, num_samples, seed):
  if hasattr(model, "sample_posterior"):
    return model.sample_posterior(posterior, seed, num_samples)
  return posterior.sample(num_samples, seed=seed)


def sample_terms(model, x, *, estimator, num_samples, seed, training=False):
  """Draws K samples of q(z|x) and the log terms `estimator` needs.

  Args:
    model: keeps the tfvae contract (posterior, prior, likelihood; optional
      sample_posterior(posterior, seed, K)).
    x: a batch [B, ...].
    estimator: one of ESTIMATORS.
    num_samples: K.
    seed: int32 [2] stateless seed.
    training: passed to the networks.

  Returns:
    SampleTerms.
  """
  check_estimator(estimator, num_samples)
  posterior = model.posterior(x, training=training)
  z = _draw(model, posterior, num_samples, seed)
  reparameterised = posterior.reparameterization_type == tfd.FULLY_REPARAMETERIZED
  if estimator in REPARAMETERISED and not reparameterised:
    raise ValueError(f"{estimator} needs a reparameterised posterior; "
                     f"{type(posterior).__name__} is not: use reinforce or vimco.")
  if estimator in SCORE_FUNCTION:
    z = tf.stop_gradient(z)  # Score-function estimators never differentiate through z.
  prior = model.prior
  terms = {"log_prior": prior.log_prob(z), "log_proposal": posterior.log_prob(z)}
  if estimator == "dreg":
    both = model.likelihood(tf.concat([tf.stop_gradient(z), z], 0), x,
                            training=training).log_prob(x)
    terms["log_likelihood_held"], terms["log_likelihood"] = tf.split(both, 2, axis=0)
    terms["log_prior_held"] = prior.log_prob(tf.stop_gradient(z))
  else:
    terms["log_likelihood"] = model.likelihood(z, x, training=training).log_prob(x)
  if estimator in ("stl", "dreg"):
    terms["log_proposal_path"] = _held_parameters(posterior).log_prob(z)
  if estimator == "elbo":
    terms["kl"] = divergences.kl(posterior, prior, z)
  return SampleTerms(**terms)


def log_mean_exp(values, axis=0):
  """ln (1/K) sum_k exp(values_k) along `axis`, stably."""
  count = tf.cast(tf.shape(values)[axis], values.dtype)
  return tf.reduce_logsumexp(values, axis=axis) - tf.math.log(count)


def _value_with_gradient_of(value, surrogate):
  """A tensor equal to `value` whose gradient is the gradient of `surrogate`."""
  return tf.stop_gradient(value) + surrogate - tf.stop_gradient(surrogate)


def log_marginal(terms, estimator, alpha=1.0):
  """The base estimate S^K (alpha = 1) or S_alpha^K of Melis et al. (2022), eq. 17, as a
  surrogate [B].

  For reinforce and vimco the value and the direct gradient (z held) are
  returned; the score-function part is added to the whole objective by
  `score_function_surrogate`.
  """
  if estimator == "elbo":
    return alpha * tf.reduce_mean(terms.log_likelihood, 0) - terms.kl
  if estimator in ("iwae", "reinforce", "vimco"):
    return log_mean_exp(terms.log_weights(alpha))
  log_proposal = terms.log_proposal_path  # stl and dreg: only the path through z.
  if estimator == "stl":
    return log_mean_exp(alpha * terms.log_likelihood + terms.log_prior - log_proposal)
  if estimator == "dreg":
    return _dreg_surrogate(terms, alpha)
  raise ValueError(f"Unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}.")


def _dreg_surrogate(terms, alpha):
  """Tucker et al. (2018) eq. 7 for S_alpha: IWAE gradient for the model, w~^2 path for q."""
  log_weights = alpha * terms.log_likelihood + terms.log_prior - terms.log_proposal_path
  normalised = tf.stop_gradient(tf.nn.softmax(log_weights, axis=0))
  model_path = alpha * terms.log_likelihood_held + terms.log_prior_held
  # Value zero, gradient only through z (the held terms cancel every other path).
  z_path = (alpha * (terms.log_likelihood - terms.log_likelihood_held)
            + (terms.log_prior - terms.log_prior_held)
            - (terms.log_proposal_path - tf.stop_gradient(terms.log_proposal_path)))
  surrogate = tf.reduce_sum(normalised * model_path + tf.square(normalised) * z_path, 0)
  return _value_with_gradient_of(log_mean_exp(log_weights), surrogate)


def self_normalised_log_likelihood(terms):
  """U^K of Melis et al. (2022), eq. 9: sum_k w~_k ln p(x|z_k), w~ the normalised
  weights, [B].

  Differentiated pathwise (weights included); the paper does not specify
  U's gradient estimator, and this is the plain derivative of eq. 9.
  """
  normalised = tf.nn.softmax(terms.log_weights(), axis=0)
  return tf.reduce_sum(normalised * terms.log_likelihood, 0)


def true_kl_estimate(terms):
  """U^K - ln p^K(x) (Melis et al. (2022), eq. 12, with the IWAE estimate, E6): estimates
  KL(p(z|x) || p(z)).

  Consistent as K grows (Melis et al. (2022), Prop. 2 (i)). For K = 1 it is
  ln q(z|x) / p(z), KL(q || p) in expectation (Prop. 4), which can lie below the
  true KL: Prop. 2 (ii)'s upward bias needs more than E[S^K] <= ln p(x).
  """
  return self_normalised_log_likelihood(terms) - log_mean_exp(terms.log_weights())


def score_function_surrogate(objective: Callable[[SampleTerms], tf.Tensor], terms, estimator):
  """The REINFORCE / VIMCO surrogate [B] of a per-example objective of the samples.

  Args:
    objective: terms -> [B] estimate, a function of the [K, ...] terms that
      reduces over the sample axis 0 only (so it also takes [K, K, B] terms).
    terms: SampleTerms of categorical (non-reparameterised) samples.
    estimator: "reinforce" or "vimco".

  Returns:
    A [B] tensor equal to objective(terms) whose gradient is
    d objective (z held) + sum_k signal_k d ln q(z_k|x), with signal_k the
    estimate (reinforce) or the estimate minus its leave-one-out baseline
    (vimco, Mnih and Rezende 2016 eq. 9 generalised to any objective of the
    per-sample terms).
  """
  check_estimator(estimator, terms.num_samples)
  value = objective(terms)
  if estimator == "reinforce":
    signal = tf.broadcast_to(value, tf.shape(terms.log_proposal))
  elif estimator == "vimco":
    signal = value - _leave_one_out_baselines(objective, terms)
  else:
    raise ValueError(f"{estimator} is not a score-function estimator; use one of "
                     f"{', '.join(SCORE_FUNCTION)}.")
  score = terms.log_proposal - tf.stop_gradient(terms.log_proposal)
  return value + tf.reduce_sum(tf.stop_gradient(signal) * score, 0)


def _leave_one_out_baselines(objective, terms):
  """[K, B]: the objective with sample k's terms replaced by the others' mean, for every k."""
  count = terms.num_samples
  replace = tf.eye(count, dtype=terms.log_likelihood.dtype)[:, :, tf.newaxis]  # [K, K', 1]

  def substituted(values):
    others_mean = (tf.reduce_sum(values, 0) - values) / (count - 1)  # [K, B]
    # Copy k' of the samples has row k' replaced: [K, K', B].
    return values[:, tf.newaxis] * (1 - replace) + others_mean[tf.newaxis] * replace

  fields = {"log_likelihood": substituted(terms.log_likelihood),
            "log_prior": substituted(terms.log_prior),
            "log_proposal": substituted(terms.log_proposal)}
  return objective(SampleTerms(**fields))  # Reduced over axis 0: [K', B].
