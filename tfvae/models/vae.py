"""The variational autoencoder of Kingma and Welling (METHODS.md M1, M2).

`VAE` keeps the model contract of ARCHITECTURE.md section 2:

  posterior(x, training) -> q(z|x), batch [B], event [d]
  prior                  -> p(z), event [d]
  likelihood(z, x, training) -> p(x|z); z may carry leading sample dims [K, B, d]

for a latent family (`tfvae.latents`): d Gaussian latents by default, or
categorical ones (event [n, C], one-hot), which the model embeds before the
decoder (`latent_embedding`, part of the decoder side for every optimiser).

and trains with its own `train_step` on one of three objectives:

  elbo         -E_q log p(x|z) + beta * KL, beta a non-trainable weight (1 by
               default) that callbacks change without retracing (M2-M4, M11);
  free_bits    -E_q log p(x|z) + beta * sum_d max(lambda/d, batch-mean KL_d) (M5);
  autoencoder  -log p(x | z = mu(x)), stage 1 of AE pre-training (M6).

Subclasses change the objective further by overriding `compute_objective`.

After every training step `batch_loss` and `batch_kl` hold the step's global
batch means of the loss and of KL(q(z|x)||p(z)) (the Keras logs carry running
epoch means instead); schedules and controllers read them between steps.
"""

import keras
import tensorflow as tf

from tfvae import distribute
from tfvae import latents
from tfvae import objectives
from tfvae import random as tfvae_random

TRAIN_STREAM = 0
EVAL_STREAM = 1
OBJECTIVES = ("elbo", "free_bits", "autoencoder")


class VAE(keras.Model):
  """Amortised VAE; Gaussian posterior and standard-normal prior unless given another family.

  Args:
    encoder: layer mapping x to the latent family's posterior parameters
      ((loc, log_variance) [B, d] each for Gaussian latents).
    decoder: layer with `likelihood(z, x, training)` returning p(x|z).
    latent_dim: the latent family (`tfvae.latents.family`), or d for d
      Gaussian latents.
    beta: initial KL weight (objectives "elbo" and "free_bits").
    seed: base seed of the stateless per-step noise.
    grad_clip_norm: clip the global gradient norm to this (None: no clipping).
    objective: one of OBJECTIVES.
    free_bits: lambda, the total target rate in nats (objective "free_bits").
    prior: a `tfvae.latents.Prior` layer (its weights train with the model);
      default the family's own fixed prior.
  """

  def __init__(self, encoder, decoder, latent_dim, *, beta=1.0, seed=0, grad_clip_norm=None,
               objective="elbo", free_bits=None, prior=None, **kwargs):
    super().__init__(**kwargs)
    if objective not in OBJECTIVES:
      raise ValueError(f"Unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}.")
    if (objective == "free_bits") != (free_bits is not None):
      raise ValueError("free_bits (the target rate lambda) goes with objective='free_bits' "
                       f"and only with it; got objective={objective!r}, free_bits={free_bits}.")
    if free_bits is not None and free_bits <= 0:
      raise ValueError(f"free_bits must be a positive rate in nats, got {free_bits}.")
    self.objective = objective
    self.free_bits = free_bits
    self.encoder = encoder
    self.decoder = decoder
    self.latent_family = latents.family(latent_dim)
    if not (self.latent_family.reparameterised or self.trains_without_reparameterisation):
      raise ValueError(f"{type(self).__name__} trains through reparameterised samples and "
                       f"cannot learn {type(self.latent_family).__name__}; use MonteCarloVAE "
                       "(--model=monte_carlo) with estimator reinforce or vimco.")
    self.latent_dim = self.latent_family.latent_dim
    self.latent_embedding = self.latent_family.embedding()
    self.latent_prior = prior if prior is not None else latents.FixedPrior(self.latent_family)
    self.seed = seed
    self.grad_clip_norm = grad_clip_norm
    self.beta = self.add_weight(name="beta", shape=(), trainable=False,
                                initializer=keras.initializers.Constant(beta))
    self.batch_loss = self._batch_statistic("batch_loss")
    self.batch_kl = self._batch_statistic("batch_kl")
    self.trackers = {name: keras.metrics.Mean(name=name)
                     for name in ("loss", "recon", "kl", "elbo")}

  # Whether the objective can train latents without a reparameterisation.
  trains_without_reparameterisation = False

  # The model contract.
  def posterior(self, x, training=False):
    return self.latent_family.posterior(self.encoder(x, training=training))

  @property
  def prior(self):
    return self.latent_prior.distribution()

  def likelihood(self, z, x, training=False):
    if self.latent_embedding is not None:
      z = self.latent_embedding(z)
    return self.decoder.likelihood(z, x, training=training)

  def sample_posterior(self, posterior, seed, num_samples=None):
    """Samples of q(z|x) ([B, ...], or [K, B, ...] for K), reparameterised for Gaussians."""
    return self.latent_family.sample(posterior, seed, num_samples)

  # Keras plumbing.
  def call(self, x, training=False):
    """Encodes x and decodes the posterior mean; builds every layer.

    Returns:
      dict with the posterior `loc` and `scale` [B, d] and `log_likelihood`
      log p(x | z = E_q[z]) [B].
    """
    posterior = self.posterior(x, training=training)
    loc = posterior.mean()
    log_likelihood = self.likelihood(loc, x, training=training).log_prob(x)
    return {"loc": loc, "scale": posterior.stddev(), "log_likelihood": log_likelihood}

  def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    """Skips the build that Keras's `fit` runs on the first batch when there is nothing to build.

    Keras 3 (TensorFlow backend) gets the shapes for that build by averaging
    the first distributed batch over the replicas element by element, which
    fails when a global batch splits unevenly (5 rows as 3 and 2). Models
    built and with their optimisers built before `fit`, as the launcher builds
    them (`tfvae.training.loop.build_model`), need no such build.
    """
    if self.built and self.optimizer is not None and self.optimizer.built:
      return
    super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

  def build_optimizers(self):
    """Creates the optimiser's slots for every trainable variable (the model must be built).

    Models with several optimisers override this to build each on its group.
    """
    self.optimizer.build(self.trainable_variables)

  def compute_objective(self, x, *, seed, training):
    """(per-example loss [B], {term: [B]}) for one batch under `self.objective`."""
    if self.objective == "free_bits":
      return objectives.free_bits_elbo(self, x, target_rate=self.free_bits, seed=seed,
                                       training=training, beta=self.beta)
    if self.objective == "autoencoder":
      return objectives.autoencoder_loss(self, x, training=training)
    return objectives.beta_elbo(self, x, beta=self.beta, seed=seed, training=training)

  def train_step(self, data):
    seed = tfvae_random.step_seed(self.seed, self.optimizer.iterations, TRAIN_STREAM)
    with tf.GradientTape() as tape:
      per_example_loss, terms = self.compute_objective(data, seed=seed, training=True)
      loss = distribute.global_average_loss(per_example_loss)
      scaled_loss = self.optimizer.scale_loss(loss)
    grads = tape.gradient(scaled_loss, self.trainable_variables)
    loss_scale = self.optimizer.scale_loss(tf.constant(1.0))
    grads = distribute.clip_by_global_norm(grads, self.grad_clip_norm, loss_scale)
    self.optimizer.apply(grads, self.trainable_variables)
    self.record_batch_statistics(per_example_loss, terms)
    return self.record(per_example_loss, terms)

  def test_step(self, data):
    seed = tfvae_random.step_seed(self.seed, self.optimizer.iterations, EVAL_STREAM)
    per_example_loss, terms = self.compute_objective(data, seed=seed, training=False)
    return self.record(per_example_loss, terms)

  def _batch_statistic(self, name):
    return self.add_weight(name=name, shape=(), trainable=False, initializer="zeros",
                           aggregation="only_first_replica")

  def record_batch_statistics(self, per_example_loss, terms):
    """Stores the global batch means of the loss and the KL of this step."""
    self.batch_loss.assign(distribute.global_batch_mean(per_example_loss))
    self.batch_kl.assign(distribute.global_batch_mean(terms["kl"]))

  def record(self, per_example_loss, terms):
    """Updates the Mean trackers; returns the logs dict (with the current beta)."""
    self.trackers["loss"].update_state(per_example_loss)
    for name, value in terms.items():
      if name in self.trackers:
        self.trackers[name].update_state(value)
    logs = {name: tracker.result() for name, tracker in self.trackers.items()}
    logs["beta"] = tf.convert_to_tensor(self.beta)
    return logs

  @property
  def metrics(self):
    return list(self.trackers.values())
