"""VAEs whose KL term is read off a critic: iVAE, iVAE_MI (Fang et al. 2019) and APo-VAE (Dai et al. 2021).

The posterior may have no density (iVAE's sampler z = G(x, eps),
`tfvae.latents.ImplicitLatents`) or one that the method chooses not to use
(APo-VAE's wrapped normal): either way KL(q(z|x) || p(z)) is replaced by the
dual form of `tfvae.objectives.dual_kl`, with a critic nu that sees (x, z)
(iVAE, APo-VAE; nu reads the encoder's output, held fixed) or z alone
(iVAE_MI: the KL of the aggregate posterior q(z)). Every training step is
Algorithm 1 of Dai et al. (2021), the alternation of Fang et al. (2019),
eqs. 9-10:

  1. critic step: `critic_steps` ascent steps of E_q nu - E_p exp(nu) over
     the critic, with samples z_q ~ q(z|x) (held fixed) and fresh z_p ~ p(z)
     for each, by the critic's own optimiser (`critic_optimizer`, with its own
     learning rate, checkpointed with the model); a
     learned prior (a VampPrior's pseudo-inputs) takes a descent step on the
     same bound in it, moving its samples toward the posterior's;
  2. model step: one step of the compiled optimiser on
     -log p(x|z) + beta nu(x, z) over encoder, sampler and decoder, at the
     same z_q (eq. 10; Dai et al. (2021), eq. 11).

The logged "kl" is nu at the step's sample (its mean is E_q nu, the KL at the
critic's optimum); "dual_kl" is the bound 1 + nu(z_q) - exp(nu(z_p)) on the
step's samples.

Evaluation (`tfvae.metrics.evaluate`) of a sampler, which has no log q(z|x),
uses a diagonal Gaussian fitted to S samples of each q(z|x)
(`density_surrogate`): as the importance-sampling proposal of the NLL and for
MI; its "kl" is KL(fit || p), a lower bound of the sampler's KL against
N(0, I) (`tfvae.latents.implicit.fitted_diagonal_gaussian`). The critic's own
estimate is reported beside it (`DualKLMetric`: "dual_kl", and for a critic of
(x, z) "dual_neg_elbo" = recon + dual_kl, the negative ELBO built from it).
"""

import numpy as np
import tensorflow as tf

from tfvae import distribute
from tfvae import divergences
from tfvae import objectives
from tfvae import random as tfvae_random
from tfvae.latents import implicit
from tfvae.latents.families import ImplicitLatents
from tfvae.models.base import EVAL_STREAM
from tfvae.models.base import OptimizerGroup
from tfvae.models.vae import VAE

_PRIOR_STREAM = 1
# The batch seed's stream of `DualKLMetric` (tfvae.metrics.seeds.FIRST_EXTRA_STREAM).
_METRIC_STREAM = 16
# Samples of each q(z|x) behind the fitted Gaussian of evaluation and behind
# each example's dual estimate there.
SURROGATE_SAMPLES = 64
DUAL_SAMPLES = 16


class DualKLVAE(VAE):
  """A VAE trained with the KL's dual form (module docstring).

  Args:
    encoder, decoder, latent_dim, and the rest: as `VAE`; `latent_dim` an
      `ImplicitLatents` family for a sampler posterior.
    critic: a `tfvae.nets.Critic` (its `sees_x` decides iVAE or iVAE_MI).
    critic_steps: critic steps before each model step (Fang et al.'s code
      takes 5).
    critic_learning_rate: the learning rate of the critic's optimiser, a copy
      of the compiled one made at `compile` (Fang et al.'s code: Adam, 1e-5);
      None keeps the compiled one's.
    critic_optimizer: the critic's optimiser itself, instead of that copy.
  """

  def __init__(self, encoder, decoder, latent_dim, *, critic, critic_steps=1,
               critic_learning_rate=None, critic_optimizer=None, **kwargs):
    super().__init__(encoder, decoder, latent_dim, **kwargs)
    if self.objective != "elbo":
      raise ValueError(f"{type(self).__name__} trains the dual-form objective; got "
                       f"objective={self.objective!r}.")
    if critic_steps < 1:
      raise ValueError(f"critic_steps must be >= 1, got {critic_steps}.")
    self.critic = critic
    self.critic_steps = int(critic_steps)
    self.critic_learning_rate = critic_learning_rate
    self.critic_optimizer = critic_optimizer
    self.posterior_sampler = (self.latent_family.sampler()
                              if isinstance(self.latent_family, ImplicitLatents) else None)
    self.posterior_has_density = self.posterior_sampler is None
    self.add_trackers("dual_kl")

  def compile(self, optimizer="adam", **kwargs):
    super().compile(optimizer=optimizer, **kwargs)
    if self.critic_optimizer is None:
      settings = self.optimizer.get_config()
      if self.critic_learning_rate is not None:
        settings["learning_rate"] = float(self.critic_learning_rate)
      self.critic_optimizer = type(self.optimizer).from_config(settings)

  def call(self, x, training=False):
    """log p(x|z) [B] at one sample z of q(z|x), as `VAE`; builds the critic too."""
    encoded = self.encoder(x, training=training)
    z = self.sample_posterior(self.make_posterior(encoded),
                              tfvae_random.step_seed(self.seed, 0, EVAL_STREAM))
    self.nu(self.critic_features(encoded), z)
    return self.likelihood(z, x, training=training).log_prob(x)

  def make_posterior(self, encoded):
    if self.posterior_sampler is None:
      return super().make_posterior(encoded)
    return self.posterior_sampler.posterior(encoded)

  def critic_features(self, encoded):
    """What the critic reads of x: the encoder's outputs, flattened and held fixed, [B, f]."""
    parts = [tf.reshape(part, [-1, part.shape[1:].num_elements()])
             for part in tf.nest.flatten(encoded)]
    return tf.stop_gradient(tf.concat(parts, axis=-1))

  def nu(self, features, z):
    """The critic's value nu(x, z) [...] at z [..., B, d], read in the latents' chart.

    The chart (`chart` of the latent family: z itself, or log_0(z) in the
    Poincare ball) is a bijection onto R^d, so the critic's optimum is still
    log q(z|x) / p(z) at z.
    """
    return self.critic(features, self.latent_family.chart(z))

  def prior_samples(self, rows, seed):
    """`rows` samples of p(z), replica-consistent: this replica's rows of the global batch's."""
    offset, global_rows = distribute.replica_rows(rows)
    samples = self.prior.sample(global_rows, seed=seed)
    return samples if not distribute.several_replicas() else tf.gather(
        samples, offset + tf.range(rows))

  # Training.
  def compute_objective(self, x, *, seed, training):
    """-log p(x|z) + beta nu(x, z) at one z ~ q(z|x) (Fang et al. (2019), eq. 10)."""
    encoded = self.encoder(x, training=training)
    z = self.sample_posterior(self.make_posterior(encoded), seed)
    log_likelihood = self.likelihood(z, x, training=training).log_prob(x)
    features = self.critic_features(encoded)
    nu = self.nu(features, z)
    nu_prior = self.nu(features, self.prior_samples(tf.shape(z)[0], _prior_seed(seed)))
    loss = -log_likelihood + self.beta * nu
    return loss, {"recon": -log_likelihood, "kl": nu, "elbo": log_likelihood - nu,
                  "dual_kl": tf.stop_gradient(objectives.dual_kl_estimate(nu, nu_prior))}

  def objective_and_gradients(self, x, *, seed):
    self.critic_step(x, seed=seed)
    return super().objective_and_gradients(x, seed=seed)

  def critic_step(self, x, *, seed):
    """`critic_steps` steps of the critic (and of a learned prior) on the dual bound.

    The posterior's samples are drawn once and held; each step draws fresh
    prior samples.
    """
    encoded = tf.nest.map_structure(tf.stop_gradient, self.encoder(x, training=True))
    z_posterior = tf.stop_gradient(self.sample_posterior(self.make_posterior(encoded), seed))
    features = self.critic_features(encoded)
    for step in range(self.critic_steps):
      prior_seed = tf.random.experimental.stateless_fold_in(_prior_seed(seed), step)
      self._critic_update(features, z_posterior, prior_seed)

  def _critic_update(self, features, z_posterior, prior_seed):
    """One ascent step of the critic, one descent step of a learned prior, on the bound."""
    critic_variables = self.critic.trainable_variables
    prior_variables = self.latent_prior.trainable_variables
    with tf.GradientTape() as tape:
      z_prior = self.prior_samples(tf.shape(z_posterior)[0], prior_seed)
      per_example = objectives.critic_loss(self.nu(features, z_posterior),
                                           self.nu(features, z_prior))
      loss = distribute.global_average_loss(per_example)
    grads = tape.gradient(loss, critic_variables + prior_variables)
    grads = grads[:len(critic_variables)] + [
        None if g is None else -g for g in grads[len(critic_variables):]]
    grads = distribute.clip_by_global_norm(grads, self.grad_clip_norm)
    self.critic_optimizer.apply(grads, critic_variables + prior_variables)

  def optimizer_groups(self):
    """The model step's group: every trainable variable but the critic's and the prior's."""
    excluded = {id(v) for v in
                self.critic.trainable_variables + self.latent_prior.trainable_variables}
    variables = [v for v in self.trainable_variables if id(v) not in excluded]
    return {"model": OptimizerGroup(self.optimizer, variables)}

  def build_optimizers(self):
    super().build_optimizers()
    with self.distribute_strategy.scope():
      if not self.critic_optimizer.built:
        self.critic_optimizer.build(self.critic.trainable_variables +
                                    self.latent_prior.trainable_variables)

  # Evaluation of a sampler.
  def density_surrogate(self, x, *, seed):
    if self.posterior_has_density:
      return None
    samples = self.sample_posterior(self.posterior(x), seed, SURROGATE_SAMPLES)
    return implicit.fitted_diagonal_gaussian(samples)

  def estimate_kl(self, x, *, seed):
    """KL(fit || p) of the Gaussian fitted to q(z|x) (module docstring), per example [B]."""
    surrogate = self.density_surrogate(x, seed=seed)
    return divergences.kl(surrogate, self.prior, seed=seed, num_samples=SURROGATE_SAMPLES)

  def dual_estimates(self, x, *, seed):
    """(dual KL [B], -log p(x|z) [B]) from DUAL_SAMPLES samples of q(z|x) and of p(z) per example."""
    encoded = self.encoder(x, training=False)
    posterior_seed, prior_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    z_posterior = self.sample_posterior(self.make_posterior(encoded), posterior_seed,
                                        DUAL_SAMPLES)
    z_prior = self.prior.sample([DUAL_SAMPLES, tf.shape(z_posterior)[1]], seed=prior_seed)
    features = self.critic_features(encoded)
    dual_kl = objectives.dual_kl_estimate(self.nu(features, z_posterior),
                                          self.nu(features, z_prior))
    recon = -tf.reduce_mean(self.likelihood(z_posterior, x).log_prob(x), axis=0)
    return dual_kl, recon

  def extra_metrics(self):
    return (DualKLMetric(),)

  def serving_layers(self, half):
    layers = super().serving_layers(half)
    if half == "encoder" and self.posterior_sampler is not None:
      return [*layers, self.posterior_sampler]
    return layers


def _prior_seed(seed):
  """The seed of a step's prior samples, shared by the critic step and the objective."""
  return tf.random.experimental.stateless_fold_in(seed, _PRIOR_STREAM)


class DualKLMetric:
  """dual_kl (and dual_neg_elbo for a critic of (x, z)): the critic's estimates at evaluation.

  A `tfvae.metrics.Metric`, run by `evaluate` through `DualKLVAE.extra_metrics`.
  For a critic of z alone dual_kl is the aggregate KL(q(z) || p(z)) on each
  batch's samples, and no ELBO is built from it.
  """

  name = "dual_kl"

  def __init__(self):
    self.values = {"dual_kl": [], "recon": [], "conditional": []}

  def batch_values(self, batch):
    seed = batch.seed_for(_METRIC_STREAM)
    dual_kl, recon = batch.model.dual_estimates(batch.x, seed=seed)
    return {"dual_kl": dual_kl, "recon": recon,
            "conditional": tf.constant(batch.model.critic.sees_x)}

  def update(self, values):
    for key, value in values.items():
      self.values[key].append(np.atleast_1d(np.asarray(value, np.float64)))

  def result(self):
    if not self.values["dual_kl"]:
      return {"dual_kl": None, "dual_neg_elbo": None}
    dual_kl = float(np.mean(np.concatenate(self.values["dual_kl"])))
    conditional = bool(self.values["conditional"][0][0])
    recon = float(np.mean(np.concatenate(self.values["recon"])))
    return {"dual_kl": dual_kl, "dual_neg_elbo": recon + dual_kl if conditional else None}
