"""The base of every tfvae model: the contract, the seed streams and the one train step.

A `LatentVariableModel` keeps the contract of ARCHITECTURE.md section 2,

  posterior(x, training)      -> q(z|x), a TFP distribution, batch [B]
  prior                       -> p(z), a TFP distribution
  likelihood(z, x, training)  -> p(x|z); z may carry leading sample dims [K, B, ...]
  sample_posterior(q, seed, K) -> replica-consistent samples of q

and trains with one `train_step` for every method. A method says what is
particular to it by overriding hooks, never the step itself:

  compute_objective(x, seed, training)  (per-example loss [B], {term: [B]}),
      computed once per step on the forward pass;
  objective_and_gradients(x, seed)  how the gradients of that
      loss are taken (one tape by default; SA-VAE holds its refined
      posterior fixed for the decoder);
  optimizer_groups() / active_groups()  named (optimiser, variables) groups
      and the ones the traced step updates (aggressive training updates the
      encoder and the decoder in separate steps);
  post_step_update(x, per_example_loss, terms)  state changed after the
      optimisers applied (VQ-VAE's codebooks);
  step_posterior(x, seed, training)  q(z|x) as the step's objective uses it:
      `posterior` unless the model draws noise into its posterior while
      training (DU-VAE's dropout on the variances), from `seed`;
  step_counts_in_logs()  whether the step's values enter the epoch means;
  estimate_kl / estimate_mutual_information / density_surrogate  what
      evaluation reports and uses for a posterior without density
      (`posterior_has_density = False`), which would otherwise be "n/a";
  extra_metrics()  the model's own evaluation metrics, beside the standard
      ones (objects of the `tfvae.metrics.Metric` protocol).

Every step's noise comes from a stateless seed of (seed, step, stream)
(`tfvae.random.step_seed`): TRAIN_STREAM for training, EVAL_STREAM for
`test_step`, further streams for a model's own draws. Scalars that change
during training live in non-trainable weights made by `add_state`, so
checkpoints save them and strategies see one value.

After every training step `batch_loss` and `batch_kl` hold the step's global
batch means of the loss and of the "kl" term (the Keras logs carry running
epoch means instead); schedules and controllers read them between steps.
"""

from typing import NamedTuple

import keras
import tensorflow as tf

from tfvae import distribute
from tfvae import random as tfvae_random

__all__ = ["EVAL_STREAM", "LatentVariableModel", "OptimizerGroup", "TRAIN_STREAM"]

TRAIN_STREAM = 0
EVAL_STREAM = 1


class OptimizerGroup(NamedTuple):
  """An optimiser and the variables it updates."""
  optimizer: keras.optimizers.Optimizer
  variables: list


class LatentVariableModel(keras.Model):
  """A latent-variable model trained by `fit` through the hooks listed in the module docstring.

  Subclasses set `latent_family` (a `tfvae.latents` family) and implement
  `posterior`, `prior`, `likelihood` and `compute_objective`.

  Args:
    seed: base seed of the stateless per-step noise.
    grad_clip_norm: clip the global gradient norm (over every group) to this;
      None: no clipping.
    **kwargs: passed to `keras.Model` (name, ...).
  """

  # Whether q(z|x) has a density (log_prob); metrics that need one report
  # "n/a" for a model that sets this to False.
  posterior_has_density = True

  def __init__(self, *, seed=0, grad_clip_norm=None, **kwargs):
    super().__init__(**kwargs)
    self.seed = seed
    self.grad_clip_norm = grad_clip_norm
    self.batch_loss = self.add_state("batch_loss", 0.0)
    self.batch_kl = self.add_state("batch_kl", 0.0)
    self.trackers = {}
    self.add_trackers("loss")

  # The contract.
  def posterior(self, x, training=False):
    raise NotImplementedError(f"{type(self).__name__} must define posterior(x, training).")

  @property
  def prior(self):
    raise NotImplementedError(f"{type(self).__name__} must define the prior property.")

  def likelihood(self, z, x, training=False):
    raise NotImplementedError(f"{type(self).__name__} must define likelihood(z, x, training).")

  def sample_posterior(self, posterior, seed, num_samples=None):
    """Replica-consistent samples of q(z|x): [B, ...], or [K, B, ...] for K."""
    return self.latent_family.sample(posterior, seed, num_samples)

  def call(self, x, training=False):
    """log p(x|z) [B] at one sample z of q(z|x) (fixed noise); builds every layer."""
    posterior = self.posterior(x, training=training)
    z = self.sample_posterior(posterior, tfvae_random.step_seed(self.seed, 0, EVAL_STREAM))
    likelihood = self.likelihood(z, x, training=training)
    # Under mixed precision Keras casts a float x to the compute dtype; the
    # likelihood scores values of its own dtype (float32).
    return likelihood.log_prob(tf.cast(x, likelihood.dtype))

  # Hooks.
  def compute_objective(self, x, *, seed, training):
    """(per-example loss [B], {term: [B]}) of one batch; `seed` gives the step's noise."""
    raise NotImplementedError(f"{type(self).__name__} must define compute_objective.")

  def objective_and_gradients(self, x, *, seed):
    """(per-example loss, terms, gradient) of one training step.

    `gradient(variables)` returns the gradients of the scaled global loss
    w.r.t. `variables`; it is called once, after the forward pass (which
    builds any layer not built yet).
    """
    with tf.GradientTape() as tape:
      per_example_loss, terms = self.compute_objective(x, seed=seed, training=True)
      scaled_loss = self.scaled_global_loss(per_example_loss)
    return per_example_loss, terms, lambda variables: tape.gradient(scaled_loss, variables)

  def optimizer_groups(self):
    """{name: OptimizerGroup}; by default the compiled optimiser on every trainable variable."""
    return {"model": OptimizerGroup(self.optimizer, self.trainable_variables)}

  def active_groups(self):
    """Names of the groups the step being traced updates (all of them by default)."""
    return tuple(self.optimizer_groups())

  def step_posterior(self, x, *, seed, training):
    """q(z|x) as a step's ELBO uses it (`posterior(x, training)` by default)."""
    del seed
    return self.posterior(x, training=training)

  def post_step_update(self, x, per_example_loss, terms):
    """Updates state after the optimisers have applied the step (nothing by default)."""

  def step_counts_in_logs(self):
    """Whether the step being traced enters the epoch means of the logs."""
    return True

  @property
  def training_step(self):
    """The step number that seeds a training step's noise (the optimiser's iterations)."""
    return self.optimizer.iterations

  def estimate_kl(self, x, *, seed):
    """KL(q(z|x) || p(z)) per example [B] of a posterior without density; None: not known.

    Evaluation asks for it only when `posterior_has_density` is False (a
    density gives the KL through `tfvae.divergences.kl`).
    """
    del x, seed
    return None

  def density_surrogate(self, x, *, seed):
    """A distribution with a density standing in for a posterior without one; None: none.

    Where a metric needs log q(z|x) (the proposal of the importance-sampled
    NLL, the MI estimate), evaluation uses it for a model that sets
    `posterior_has_density = False` (iVAE: a Gaussian fitted to the sampler).
    """
    del x, seed
    return None

  def estimate_mutual_information(self, x, *, seed):
    """I(x; z) under q on the batch x (a scalar) for a posterior without density; None: not known."""
    del x, seed
    return None

  def extra_metrics(self):
    """Fresh metric objects (`tfvae.metrics.Metric` protocol) that `evaluate` runs beside its own.

    None by default; VQ-VAE reports its codebook usage this way.
    """
    return ()

  def logged_values(self):
    """Values other than the trackers' that every step's logs carry (none by default)."""
    return {}

  # The train and test steps.
  def train_step(self, data):
    seed = tfvae_random.step_seed(self.seed, self.training_step, TRAIN_STREAM)
    per_example_loss, terms, gradient = self.objective_and_gradients(data, seed=seed)
    groups = self.optimizer_groups()
    grads = gradient([v for group in groups.values() for v in group.variables])
    loss_scale = self.optimizer.scale_loss(tf.constant(1.0))
    grads = distribute.clip_by_global_norm(grads, self.grad_clip_norm, loss_scale)
    active = self.active_groups()
    start = 0
    for name, group in groups.items():
      end = start + len(group.variables)
      if name in active:
        group.optimizer.apply(grads[start:end], group.variables)
      start = end
    self.record_batch_statistics(per_example_loss, terms)
    self.post_step_update(data, per_example_loss, terms)
    if not self.step_counts_in_logs():
      return self.epoch_logs()
    return self.record(per_example_loss, terms)

  def test_step(self, data):
    seed = tfvae_random.step_seed(self.seed, self.optimizer.iterations, EVAL_STREAM)
    per_example_loss, terms = self.compute_objective(data, seed=seed, training=False)
    return self.record(per_example_loss, terms)

  def scaled_global_loss(self, per_example_loss):
    """The loss averaged over the global batch, times the optimiser's loss scale."""
    return self.optimizer.scale_loss(distribute.global_average_loss(per_example_loss))

  # Optimisers.
  def build_optimizers(self):
    """Builds each group's optimiser on its variables (the model must be built).

    Raises:
      ValueError: several groups and a loss-scale optimiser among them (the
        step scales one loss by the compiled optimiser's factor).
    """
    groups = self.optimizer_groups()
    if len(groups) > 1 and any(isinstance(group.optimizer, keras.optimizers.LossScaleOptimizer)
                               for group in groups.values()):
      raise ValueError(f"{type(self).__name__} updates {len(groups)} optimiser groups and "
                       "cannot scale their losses (mixed_float16); use float32 or "
                       "mixed_bfloat16.")
    with self.distribute_strategy.scope():
      for group in groups.values():
        if not group.optimizer.built:
          group.optimizer.build(group.variables)

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

  # State and logs.
  def add_state(self, name, initial, *, shape=(), dtype="float32"):
    """A non-trainable weight that checkpoints save; one value on every replica.

    `initial` is a number or a Keras initializer.
    """
    if isinstance(initial, (int, float)):
      initial = keras.initializers.Constant(initial)
    return self.add_weight(name=name, shape=shape, dtype=dtype, trainable=False,
                           initializer=initial, aggregation="only_first_replica")

  def add_trackers(self, *names):
    """Mean trackers of the terms `names` (epoch means in the logs)."""
    for name in names:
      self.trackers[name] = keras.metrics.Mean(name=name)

  def record_batch_statistics(self, per_example_loss, terms):
    """Stores the global batch means of the loss and of the "kl" term of this step."""
    self.batch_loss.assign(distribute.global_batch_mean(per_example_loss))
    if "kl" in terms:
      self.batch_kl.assign(distribute.global_batch_mean(terms["kl"]))

  def record(self, per_example_loss, terms):
    """Updates the trackers with this step's values; returns the logs."""
    self.trackers["loss"].update_state(per_example_loss)
    for name, value in terms.items():
      if name in self.trackers:
        self.trackers[name].update_state(value)
    return self.epoch_logs()

  def epoch_logs(self):
    """The logs as they stand: the trackers' means and `logged_values()`."""
    logs = {name: tracker.result() for name, tracker in self.trackers.items()}
    logs.update(self.logged_values())
    return logs

  @property
  def metrics(self):
    return list(self.trackers.values())
