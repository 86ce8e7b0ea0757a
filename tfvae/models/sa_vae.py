"""Semi-amortised VAE (Kim et al. 2018, "Semi-Amortized Variational Autoencoders"; M8).

The encoder gives the initial local variational parameters
lambda_0 = (mu, log sigma^2) of a diagonal Gaussian q(z|x). K steps of
stochastic gradient ascent on the per-example objective refine them (the SVI
update with momentum of the forward loop of Kim et al.'s Algorithm 1):

    g_k = clip(grad_lambda [log p(x|z_k) - beta KL(q_lambda_k || p)]),
          z_k = mu_k + sigma_k * eps_k,
    v_{k+1} = gamma v_k + g_k,  lambda_{k+1} = lambda_k + alpha v_{k+1},  v_0 = 0,

one reparameterised sample eps_k per step (stateless seeds) and the analytic
KL. gamma = 0 (the default) is plain gradient ascent; Kim et al. used 0.5.
The loss is then the usual per-example beta-ELBO loss at lambda_K, its sample
drawn with the step's seed itself (so K = 0 is exactly `VAE`).

Second-order terms. lambda_K is a differentiable function of lambda_0(x; phi),
of theta and of the fixed noise eps_0..eps_{K-1}; its Jacobians contain the
Hessian-vector products H_{lambda lambda} v and H_{theta lambda} v of
Algorithm 1's backward pass. Here they are exact: every inner gradient is taken
by a `tf.GradientTape` nested inside the training step's tape, so the outer
tape records the inner gradient computation and differentiates it again (Kim
et al. approximate the same products by finite differences, with eps = 1e-5 in
their code).

* The encoder phi always gets the total derivative dL(lambda_K)/dphi through
  the K steps, momentum and clipping included; nothing is dropped.
* The decoder theta gets, with `decoder_second_order=True` (the default), the
  total derivative too: dL/dtheta = partial_theta L(lambda_K, theta) plus the
  H_{theta lambda} terms from lambda_K's dependence on theta. This is
  Algorithm 1 of Kim et al. (the theta-bar accumulation) and their code's
  default (`acc_param_grads=1`), and it is the true gradient of the loss
  being minimised. With `decoder_second_order=False` theta gets only
  partial_theta L(lambda_K, theta) with lambda_K held fixed (the
  H_{theta lambda} terms are dropped), as when a generative model is trained
  on SVI posteriors: a tape opened after the refinement sees lambda_K as a
  constant, and the outer tape is asked for the encoder's gradient only.

Evaluation. `posterior(x)` returns the refined q (with `eval_refinement_steps`
steps), as Kim et al. evaluate, so every metric of `tfvae.metrics` sees it;
`initial_posterior(x)` is the amortised one. Its refinement noise is fixed:
step k uses seed fold_in(fold_in(step_seed(seed, 0, POSTERIOR_STREAM), 1), k),
so posterior(x) is a deterministic function of x and the weights. The
refinement ascends the objective being trained, i.e. it uses the current beta
(Kim et al.'s inner loss uses their annealed KL weight too); after annealing,
beta = 1 and it is the ELBO.

Units. The refinement differentiates the per-example objective (summed over
tokens or pixels). Kim et al.'s code differentiates a loss averaged over the
batch, so
their step size lr acts per example as lr / B: their text setting (lr 1,
batches of 32) is alpha = 1/32 here. Their clipping (threshold 5) applies to
the whole batch's gradient of mu and of log sigma^2; here each example's
gradient of mu and of log sigma^2 is clipped to `refinement_clip_norm`, which
keeps examples (and replicas) independent. When an example's gradient is
typical of its batch, their batch threshold 5 is about 5 sqrt(32) ~ 28 per
example, the default.

Limitation. `nets.FusedLSTM` (the default text LSTM) has a hand-written
backward pass that is differentiated twice correctly only inside a
`tf.function` (Keras' compiled `train_step`, `tfvae.metrics.evaluate`); eager
training (`run_eagerly=True`) with it fails, use `lstm="keras"` there.
"""

import tensorflow as tf

from tfvae import divergences
from tfvae import latents
from tfvae import random as tfvae_random
from tfvae.models import vae


POSTERIOR_STREAM = 2  # step_seed stream of the fixed refinement noise of posterior()
_REFINEMENT_TAG = 1  # refinement step k uses fold_in(fold_in(seed, 1), k)


class SAVAE(vae.VAE):
  """VAE whose amortised posterior is refined by K steps of SVI (Kim et al. 2018).

  Args:
    encoder, decoder, latent_dim: as for `VAE`.
    refinement_steps: K, the SVI steps of a training step (0: a plain VAE).
    refinement_step_size: alpha, the per-example step size.
    eval_refinement_steps: SVI steps of `posterior()` and `test_step`
      (None: K).
    refinement_momentum: gamma of the heavy-ball update (0: gradient ascent).
    refinement_clip_norm: each example's gradient of mu and of log sigma^2 is
      clipped to this L2 norm before the step (None: no clipping).
    decoder_second_order: whether the decoder's gradient keeps the
      H_{theta lambda} terms of lambda_K's dependence on theta (see the
      module docstring).
    **kwargs: `VAE` arguments (beta, seed, grad_clip_norm, name, ...).
  """

  def __init__(self, encoder, decoder, latent_dim, *, refinement_steps=20,
               refinement_step_size=1.0 / 32, eval_refinement_steps=None,
               refinement_momentum=0.0, refinement_clip_norm=28.0, decoder_second_order=True,
               **kwargs):
    super().__init__(encoder, decoder, latent_dim, **kwargs)
    if refinement_steps < 0 or (eval_refinement_steps is not None and eval_refinement_steps < 0):
      raise ValueError("refinement step counts must be >= 0")
    self.refinement_steps = int(refinement_steps)
    self.refinement_step_size = float(refinement_step_size)
    self.eval_refinement_steps = int(refinement_steps if eval_refinement_steps is None
                                     else eval_refinement_steps)
    self.refinement_momentum = float(refinement_momentum)
    self.refinement_clip_norm = refinement_clip_norm
    self.decoder_second_order = bool(decoder_second_order)
    self.add_trackers("kl_initial", "elbo_gain")

  # The model contract.
  def initial_posterior(self, x, training=False):
    """The amortised q(z|x) with lambda_0 = encoder(x)."""
    loc, log_variance = self.encoder(x, training=training)
    return latents.diagonal_gaussian(loc, log_variance)

  def posterior(self, x, training=False):
    """The refined q(z|x) after `eval_refinement_steps` steps, fixed noise."""
    seed = tfvae_random.step_seed(self.seed, 0, POSTERIOR_STREAM)
    loc, log_variance = self.encoder(x, training=training)
    loc, log_variance, _ = self.refine(x, loc, log_variance, steps=self.eval_refinement_steps,
                                       seed=seed, training=training)
    return latents.diagonal_gaussian(loc, log_variance)

  # The refinement.
  def refine(self, x, loc, log_variance, *, steps, seed, training):
    """lambda_K from lambda_0 = (loc, log_variance) by `steps` SVI steps.

    Differentiable in lambda_0 and the weights to second order (a tape around
    this call differentiates the inner gradients). Step k draws its noise
    with seed fold_in(fold_in(seed, 1), k). Each example's gradient is read
    off the gradient of the batch's summed loss, which assumes the networks
    treat examples independently (every tfvae network does; batch
    normalisation would not).

    Returns:
      (loc_K, log_variance_K, initial): `initial` is the {"loss", "elbo"}
      [B] estimate at lambda_0 from step 0's sample, None when steps = 0.
    """
    initial = None
    velocity = None
    refinement_root = tf.random.experimental.stateless_fold_in(seed, _REFINEMENT_TAG)
    for step in range(steps):
      step_seed = tf.random.experimental.stateless_fold_in(refinement_root, step)
      with tf.GradientTape() as tape:
        tape.watch([loc, log_variance])
        loss, terms = self.objective_at(x, loc, log_variance, seed=step_seed, training=training)
        # Examples are independent: the gradient of the sum is each example's own.
        total = tf.reduce_sum(loss)
      if step == 0:
        initial = {"loss": loss, "elbo": terms["elbo"]}
      descent = tape.gradient(total, [loc, log_variance])
      ascent = [self._clip(-g) for g in descent]
      if velocity is None or not self.refinement_momentum:
        velocity = ascent
      else:
        velocity = [self.refinement_momentum * v + g for v, g in zip(velocity, ascent)]
      loc = loc + self.refinement_step_size * velocity[0]
      log_variance = log_variance + self.refinement_step_size * velocity[1]
    return loc, log_variance, initial

  def _clip(self, gradient):
    """Clips each example's row of `gradient` [B, d] to `refinement_clip_norm`."""
    if self.refinement_clip_norm is None:
      return gradient
    return tf.clip_by_norm(gradient, self.refinement_clip_norm, axes=[-1])

  def objective_at(self, x, loc, log_variance, *, seed, training):
    """Per-example beta-ELBO loss at q = N(loc, exp(log_variance)), one sample.

    The terms of `objectives.beta_elbo`: loss = -log p(x|z) + beta KL(q||p),
    z = loc + exp(log_variance / 2) * noise(seed), KL analytic.

    Returns:
      (loss [B], {"recon", "kl", "elbo"} each [B]).
    """
    posterior = latents.diagonal_gaussian(loc, log_variance)
    z = self.sample_posterior(posterior, seed)
    log_likelihood = self.likelihood(z, x, training=training).log_prob(x)
    kl = divergences.kl(posterior, self.prior, z[None])
    recon = -log_likelihood
    loss = recon + tf.cast(self.beta, kl.dtype) * kl
    return loss, {"recon": recon, "kl": kl, "elbo": log_likelihood - kl}

  # Training and evaluation.
  def compute_objective(self, x, *, seed, training):
    """(loss [B], terms [B]) at the refined posterior; see `_refined_objective`.

    Refines with `refinement_steps` when training, else `eval_refinement_steps`.
    """
    steps = self.refinement_steps if training else self.eval_refinement_steps
    refined = self._refined_parameters(x, seed=seed, steps=steps, training=training)
    return self._refined_objective(x, refined, seed=seed, training=training)

  def _refined_parameters(self, x, *, seed, steps, training):
    """(loc_0, log_variance_0, loc_K, log_variance_K, initial) for one batch."""
    loc0, log_variance0 = self.encoder(x, training=training)
    loc, log_variance, initial = self.refine(x, loc0, log_variance0, steps=steps, seed=seed,
                                             training=training)
    return loc0, log_variance0, loc, log_variance, initial

  def _refined_objective(self, x, refined, *, seed, training):
    """The loss at lambda_K (noise of `seed` itself, as VAE) and its diagnostics.

    Terms: recon, kl, elbo at lambda_K; kl_initial = KL(q_0 || p);
    elbo_gain = elbo - (step 0's ELBO estimate at lambda_0), zero when K = 0.
    """
    loc0, log_variance0, loc, log_variance, initial = refined
    loss, terms = self.objective_at(x, loc, log_variance, seed=seed, training=training)
    initial_posterior = latents.diagonal_gaussian(loc0, log_variance0)
    terms["kl_initial"] = tf.stop_gradient(divergences.kl(initial_posterior, self.prior))
    if initial is None:
      terms["elbo_gain"] = tf.zeros_like(terms["elbo"])
    else:
      terms["elbo_gain"] = tf.stop_gradient(terms["elbo"] - initial["elbo"])
    return loss, terms

  def objective_and_gradients(self, x, *, seed):
    """Total gradients, or the decoder's with lambda_K held fixed (`decoder_second_order`)."""
    if self.decoder_second_order:
      return super().objective_and_gradients(x, seed=seed)
    with tf.GradientTape() as tape:
      refined = self._refined_parameters(x, seed=seed, steps=self.refinement_steps,
                                         training=True)
      # Started after the refinement, this tape sees lambda_K as a constant.
      with tf.GradientTape() as final_tape:
        per_example_loss, terms = self._refined_objective(x, refined, seed=seed, training=True)
        scaled_loss = self.scaled_global_loss(per_example_loss)

    def gradient(variables):
      decoder_ids = {id(v) for v in self.decoder.trainable_variables}
      decoder_vars = [v for v in variables if id(v) in decoder_ids]
      others = [v for v in variables if id(v) not in decoder_ids]
      by_id = dict(zip(map(id, others), tape.gradient(scaled_loss, others)))
      by_id.update(zip(map(id, decoder_vars), final_tape.gradient(scaled_loss, decoder_vars)))
      return [by_id[id(v)] for v in variables]

    return per_example_loss, terms, gradient
