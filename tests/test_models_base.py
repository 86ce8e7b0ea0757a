"""LatentVariableModel: the one train step and its hooks, on the linear-Gaussian oracle."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae.models import LatentVariableModel
from tfvae.models import OptimizerGroup
from tfvae.models.linear_gaussian import LinearGaussianModel

# Orthogonal columns: the diagonal q can equal the true posterior.
DECODER_WEIGHT = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
DECODER_BIAS = np.array([0.5, -1.0, 0.3])
SIGMA = 0.7


def _data(num_examples=512, seed=0):
  """x ~ p(x) of the linear-Gaussian model."""
  rng = np.random.default_rng(seed)
  z = rng.normal(size=(num_examples, 2))
  x = z @ DECODER_WEIGHT.T + DECODER_BIAS + SIGMA * rng.normal(size=(num_examples, 3))
  return x.astype(np.float32)


def _model(**kwargs):
  model = LinearGaussianModel(DECODER_WEIGHT, DECODER_BIAS, SIGMA, seed=3, **kwargs)
  for variable in (model.decoder_weight, model.decoder_bias, model.log_noise_scale):
    variable.trainable = False
  return model


def test_fit_on_the_elbo_recovers_the_exact_posterior():
  """With p(x|z) fixed, maximising the ELBO over q gives q = p(z|x) (orthogonal W)."""
  model = _model()
  model.compile(optimizer=keras.optimizers.Adam(0.05))
  model.build_optimizers()
  batches = tf.data.Dataset.from_tensor_slices(_data()).batch(64).repeat()
  model.fit(batches, epochs=1, steps_per_epoch=400, verbose=0)
  a, c, log_s = model.exact_posterior_parameters()
  np.testing.assert_allclose(model.encoder_weight.numpy(), a, atol=0.05)
  np.testing.assert_allclose(model.encoder_bias.numpy(), c, atol=0.05)
  np.testing.assert_allclose(model.encoder_log_scale.numpy(), log_s, atol=0.05)


class _GroupedModel(LinearGaussianModel):
  """The encoder's three weights and the decoder's in two groups; the step updates `active`."""

  def __init__(self, *args, active, **kwargs):
    super().__init__(*args, **kwargs)
    self.active = active
    self.second_optimizer = keras.optimizers.SGD(0.1)
    self.updates = self.add_state("updates", 0.0)

  def optimizer_groups(self):
    encoder = [self.encoder_weight, self.encoder_bias, self.encoder_log_scale]
    decoder = [self.decoder_weight, self.decoder_bias, self.log_noise_scale]
    return {"encoder": OptimizerGroup(self.optimizer, encoder),
            "decoder": OptimizerGroup(self.second_optimizer, decoder)}

  def active_groups(self):
    return self.active

  def post_step_update(self, x, per_example_loss, terms):
    self.updates.assign_add(1.0)

  def step_counts_in_logs(self):
    return "decoder" in self.active


def _grouped(active, grad_clip_norm=None):
  model = _GroupedModel(DECODER_WEIGHT, DECODER_BIAS, SIGMA, seed=3, active=active,
                        grad_clip_norm=grad_clip_norm,
                        encoder_weight=[[0.3, 0.1, 0.0], [0.0, 0.2, 0.1]])
  model.compile(optimizer=keras.optimizers.SGD(0.1))
  model.build_optimizers()
  return model


@pytest.mark.parametrize("grad_clip_norm", [None, 0.1])
def test_groups_share_one_gradient_and_only_active_groups_step(grad_clip_norm):
  """Each group moves by -lr * its part of the one (jointly clipped) gradient, or not at all."""
  x = _data(16)
  reference = _grouped(("encoder", "decoder"))
  groups = reference.optimizer_groups()
  variables = [v for group in groups.values() for v in group.variables]
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(reference.compute_objective(x, seed=tf.constant([3000009, 0]),
                                                      training=True)[0])
  grads = tape.gradient(loss, variables)
  if grad_clip_norm:
    grads, _ = tf.clip_by_global_norm(grads, grad_clip_norm)
  expected = [v.numpy() - 0.1 * g.numpy() for v, g in zip(variables, grads)]
  for active in (("encoder",), ("decoder",), ("encoder", "decoder")):
    model = _grouped(active, grad_clip_norm)
    before = [v.numpy() for v in variables]
    logs = model.train_step(tf.constant(x))
    after = [v.numpy() for v in model.optimizer_groups()["encoder"].variables
             + model.optimizer_groups()["decoder"].variables]
    for index, value in enumerate(after):
      stepped = ("encoder" if index < 3 else "decoder") in active
      np.testing.assert_allclose(value, expected[index] if stepped else before[index], rtol=1e-5,
                                 atol=1e-6)
    assert model.updates.numpy() == 1.0  # post_step_update ran once.
    # A step outside the logs leaves the epoch means empty; the others enter them.
    assert (float(logs["loss"]) == 0.0) == ("decoder" not in active)
    np.testing.assert_allclose(model.batch_loss.numpy(), loss.numpy(), rtol=1e-5)


def test_several_groups_refuse_loss_scaling():
  model = _GroupedModel(DECODER_WEIGHT, DECODER_BIAS, SIGMA, active=("encoder",))
  model.compile(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1)))
  with pytest.raises(ValueError, match="cannot scale their losses"):
    model.build_optimizers()


def test_a_model_without_the_contract_says_what_is_missing():
  model = LatentVariableModel()
  with pytest.raises(NotImplementedError, match="posterior"):
    model.posterior(tf.zeros([1, 3]))
  with pytest.raises(NotImplementedError, match="compute_objective"):
    model.compute_objective(tf.zeros([1, 3]), seed=None, training=True)
