"""Global-norm clipping against a numpy oracle, sparse gradients with repeats included."""

import numpy as np
import tensorflow as tf

from tfvae import distribute


def _dense(grad):
  return tf.convert_to_tensor(grad).numpy()


def test_clip_matches_numpy_with_repeated_embedding_rows():
  table = tf.Variable(tf.random.stateless_normal([5, 3], seed=[1, 1]))
  weight = tf.Variable(tf.random.stateless_normal([3, 2], seed=[2, 2]))
  ids = tf.constant([1, 1, 1, 4])
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(tf.matmul(tf.gather(table, ids), weight) ** 2)
  grads = tape.gradient(loss, [table, weight, tf.Variable(0.0)])
  assert isinstance(grads[0], tf.IndexedSlices) and grads[2] is None
  dense = [_dense(grads[0]), _dense(grads[1])]
  norm = np.sqrt(sum(np.sum(g**2) for g in dense))
  clipped = distribute.clip_by_global_norm(grads, norm / 4)
  for got, want in zip(clipped[:2], dense):
    np.testing.assert_allclose(_dense(got), want / 4, rtol=1e-5)
  assert clipped[2] is None


def test_no_clipping_below_threshold_and_when_disabled():
  grads = [tf.constant([3.0, 4.0])]
  np.testing.assert_allclose(_dense(distribute.clip_by_global_norm(grads, 10.0)[0]), [3, 4])
  assert distribute.clip_by_global_norm(grads, None) is grads


def test_loss_scale_moves_the_threshold():
  scaled = [tf.constant([300.0, 400.0])]
  clipped = distribute.clip_by_global_norm(scaled, 1.0, loss_scale=100.0)
  np.testing.assert_allclose(_dense(clipped[0]), [60.0, 80.0], rtol=1e-6)
