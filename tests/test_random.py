"""Stateless, replica-consistent noise."""

import numpy as np
import pytest
import tensorflow as tf

from tfvae import random as tfvae_random


def test_step_seeds_differ_by_step_and_stream():
  a = tfvae_random.step_seed(1, 0).numpy()
  b = tfvae_random.step_seed(1, 1).numpy()
  c = tfvae_random.step_seed(1, 0, stream=1).numpy()
  assert a.dtype == np.int32 and a.shape == (2,)
  assert not np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("draw_noise", [tfvae_random.standard_normal, tfvae_random.uniform])
def test_two_replicas_draw_slices_of_the_one_device_noise(mirrored_strategy, draw_noise):
  strategy = mirrored_strategy
  seed = tf.constant([5, 9], tf.int32)
  whole = draw_noise([3, 8, 2], seed, batch_axis=1).numpy()

  def draw():
    return draw_noise([3, 4, 2], seed, batch_axis=1)

  per_replica = strategy.run(draw)
  parts = [t.numpy() for t in strategy.experimental_local_results(per_replica)]
  np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)
