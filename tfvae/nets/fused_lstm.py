"""A fused LSTM layer for CPU training: hoisted input projection, hand-written backward.

`FusedLSTM` computes what `keras.layers.LSTM` computes (Hochreiter and
Schmidhuber 1997 with forget gates, Gers et al. 2000; the Keras formulation)

  z_t = x_t K + h_{t-1} R + b                      K [in, 4H], R [H, 4H], b [4H]
  i, f, g, o = sigma(z_i), sigma(z_f), tanh(z_c), sigma(z_o)   (gate order i, f, c, o)
  c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t)

with the same weights (`cell.kernel`, `cell.recurrent_kernel`, `cell.bias`, under
the same Keras paths `<layer>/lstm_cell/...`), so weights copy between the two.
With a mask, a masked step leaves the state as it was and outputs the previous
output (zeros before the first unmasked step), as Keras does.

It is organised for throughput where Keras's generic RNN loop is not:

* the input projection x_t K + b of all T steps is one [T*B, in] x [in, 4H]
  matmul before the recurrence, instead of T matmuls of B rows inside it;
* the recurrence runs in a `tf.while_loop` whose body is one [B, H] x [H, 4H]
  matmul and the gate arithmetic; the gate activations and tanh(c_t) are kept
  for the backward pass;
* the backward pass is written out (`tf.custom_gradient`): a reverse loop does
  only the [B, 4H] x [4H, H] matmul that carries dh_{t-1} and stores dz_t; the
  weight gradient dR = sum_t h_{t-1}^T dz_t is then one [H, T*B] x [T*B, 4H]
  matmul, and dK, db, dx come from the hoisted projection's own gradient.
  Autodiff of the Keras loop instead accumulates T outer products of rank B
  into dR (and dK) inside the loop.

The per-step function `cell(inputs, [h, c])` (as `keras.layers.LSTMCell`) serves
step-by-step decoding.
"""

import keras
import tensorflow as tf


class FusedLSTMCell(keras.layers.Layer):
  """The weights of an LSTM and one step of it, as `keras.layers.LSTMCell`.

  Weights: `kernel` [in, 4H] (Glorot uniform), `recurrent_kernel` [H, 4H]
  (orthogonal), `bias` [4H] (zeros, the forget-gate quarter ones when
  `unit_forget_bias`, Jozefowicz et al. 2015), gates in the order i, f, c, o.
  """

  def __init__(self, units, unit_forget_bias=True, **kwargs):
    super().__init__(**kwargs)
    self.units = units
    self.unit_forget_bias = unit_forget_bias
    self.state_size = [units, units]
    self.output_size = units

  def build(self, input_shape):
    units = self.units
    self.kernel = self.add_weight(shape=(input_shape[-1], 4 * units), name="kernel",
                                  initializer="glorot_uniform")
    self.recurrent_kernel = self.add_weight(shape=(units, 4 * units), name="recurrent_kernel",
                                            initializer="orthogonal")
    forget = 1.0 if self.unit_forget_bias else 0.0

    def bias_initializer(shape, dtype=None):
      del shape
      parts = [tf.zeros([units]), tf.fill([units], forget), tf.zeros([2 * units])]
      return tf.cast(tf.concat(parts, axis=0), dtype or "float32")

    self.bias = self.add_weight(shape=(4 * units,), name="bias", initializer=bias_initializer)

  def call(self, inputs, states):
    """One step: (h_t, [h_t, c_t]) from x_t [B, in] and [h_{t-1}, c_{t-1}]."""
    h, c = states
    z = tf.matmul(inputs, self.kernel) + tf.matmul(h, self.recurrent_kernel) + self.bias
    i, f, g, o = tf.split(z, 4, axis=-1)
    c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
    h = tf.sigmoid(o) * tf.tanh(c)
    return h, [h, c]


def _gates_forward(x_t, h_r, h, c, keep):
  """One step's gate arithmetic: (h_t, c_t, [i, f, g, o], tanh of the new cell).

  x_t = x_t K + b and h_r = h_{t-1} R; `keep` (bool [B, 1] or None) freezes the
  state of the rows where it is false.
  """
  i, f, g, o = tf.split(x_t + h_r, 4, axis=-1)
  i, f, g, o = tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)
  c_new = f * c + i * g
  tanh_c = tf.tanh(c_new)
  h_new = o * tanh_c
  if keep is not None:
    h_new = tf.where(keep, h_new, h)
    c_new = tf.where(keep, c_new, c)
  return h_new, c_new, [i, f, g, o], tanh_c


def _gates_backward(dh_matmul, dh_through, d_output, dc, activations, tanh_c, c_prev, keep):
  """One reverse step's gate arithmetic: (dz_t, dc_{t-1}, the part of dh_{t-1} not via R).

  The gradient reaching h_t is dh = dh_matmul + dh_through + d_output (from
  step t+1 through R, from step t+1 around a masked step, and from the output
  at t); see `_backward` for the formulas.
  """
  dh = dh_matmul + dh_through + d_output
  i, f, g, o = tf.split(activations, 4, axis=-1)
  if keep is not None:
    dh_step = tf.where(keep, dh, tf.zeros_like(dh))
    dc_step = tf.where(keep, dc, tf.zeros_like(dc))
  else:
    dh_step, dc_step = dh, dc
  dc_total = dc_step + dh_step * o * (1.0 - tanh_c * tanh_c)
  dz = tf.concat([dc_total * g * i * (1.0 - i),
                  dc_total * c_prev * f * (1.0 - f),
                  dc_total * i * (1.0 - g * g),
                  dh_step * tanh_c * o * (1.0 - o)], axis=-1)
  dc_prev = dc_total * f
  if keep is None:
    return dz, dc_prev, tf.zeros_like(dh)
  return dz, tf.where(keep, dc_prev, dc), tf.where(keep, tf.zeros_like(dh), dh)


def _forward(projected, mask, h0, c0, recurrent_kernel, save=True):
  """The recurrence: outputs, final cell state and what the backward pass keeps.

  Args:
    projected: [T, B, 4H] x_t K + b.
    mask: bool [T, B] or None.
    h0, c0: [B, H].
    recurrent_kernel: [H, 4H].
    save: keep what `_backward` needs (else `saved` is empty).

  Returns:
    (hs, c_T, saved): hs [T, B, H] the (masked) hidden states after each step,
    c_T [B, H] the final cell state, and `saved`, TensorArrays of T entries the
    backward pass reads without stacking them: c_{t-1} [B, H], the activations
    (i, f, g, o) [B, 4H] and tanh of the unmasked new cell state [B, H].
  """
  steps = projected.shape[0] if projected.shape[0] is not None else tf.shape(projected)[0]
  dtype = projected.dtype
  inputs = tf.TensorArray(dtype, size=steps).unstack(projected)
  masks = None if mask is None else tf.TensorArray(tf.bool, size=steps).unstack(mask)
  outputs = [tf.TensorArray(dtype, size=steps) for _ in range(4 if save else 1)]

  def body(t, h, c, hs, *saved):
    keep = None if masks is None else masks.read(t)[:, None]
    c_prev = c
    h, c, gates, tanh_c = _gates_forward(inputs.read(t), tf.matmul(h, recurrent_kernel), h, c,
                                         keep)
    if save:
      cells_prev, activations, tanh_cells = saved
      saved = (cells_prev.write(t, c_prev), activations.write(t, tf.concat(gates, axis=-1)),
               tanh_cells.write(t, tanh_c))
    return (t + 1, h, c, hs.write(t, h), *saved)

  loop = tf.while_loop(lambda t, *_: t < steps, body, (0, h0, c0, *outputs),
                       maximum_iterations=steps)
  _, _, c_last, hs, *saved = loop
  return hs.stack(), c_last, saved


def _backward(d_hs, d_c_last, mask, h0, hs, saved, recurrent_kernel):
  """Gradients of the recurrence (backpropagation through time, written out).

  With dz_t the gradient of the gate pre-activations at step t, a reverse loop
  carries (dh, dc) from step t to t-1:

    dh += d_hs[t];  on a masked step dz_t = 0 and (dh, dc) pass through, else
    dc' = dc + dh * o * (1 - tanh(c_t)^2)
    dz_t = [dc' g i (1 - i), dc' c_{t-1} f (1 - f), dc' i (1 - g^2),
            dh tanh(c_t) o (1 - o)]
    dh_{t-1} = dz_t R^T,  dc_{t-1} = dc' f.

  Returns:
    (d_projected [T, B, 4H], d_h0, d_c0, d_recurrent_kernel), where
    d_recurrent_kernel = sum_t h_{t-1}^T dz_t is one matmul over all steps.
  """
  steps = hs.shape[0] if hs.shape[0] is not None else tf.shape(hs)[0]
  dtype = hs.dtype
  cells_prev, acts, tanhs = saved
  d_outputs = tf.TensorArray(dtype, size=steps).unstack(d_hs)
  masks = None if mask is None else tf.TensorArray(tf.bool, size=steps).unstack(mask)
  # R^T materialised once: a matmul with transpose_b=True re-lays out the
  # [H, 4H] operand on every call, which made each backward step ~4x slower
  # than the forward one on oneDNN.
  recurrent_transposed = tf.transpose(recurrent_kernel)

  def body(step, dh_matmul, dh_through, dc, d_z):
    t = steps - 1 - step
    keep = None if masks is None else masks.read(t)[:, None]
    dz, dc, dh_through = _gates_backward(dh_matmul, dh_through, d_outputs.read(t), dc,
                                         acts.read(t), tanhs.read(t), cells_prev.read(t), keep)
    return step + 1, tf.matmul(dz, recurrent_transposed), dh_through, dc, d_z.write(t, dz)

  zeros = tf.zeros_like(h0)
  d_c = zeros if d_c_last is None else d_c_last
  loop = tf.while_loop(lambda step, *_: step < steps, body,
                       (0, zeros, zeros, d_c, tf.TensorArray(dtype, size=steps)),
                       maximum_iterations=steps)
  _, dh_matmul, dh_through, d_c0, d_z = loop
  d_z = d_z.stack()
  units = recurrent_kernel.shape[0]
  h_prev = tf.concat([h0[None], hs[:-1]], axis=0)
  d_recurrent = tf.matmul(tf.reshape(h_prev, [-1, units]), tf.reshape(d_z, [-1, 4 * units]),
                          transpose_a=True)
  return d_z, dh_matmul + dh_through, d_c0, d_recurrent


def lstm_recurrence(projected, mask, h0, c0, recurrent_kernel, training=True):
  """(hs [T, B, H], c_T [B, H]) of the LSTM recurrence over precomputed projections.

  Differentiable in `projected` [T, B, 4H], `h0`, `c0` [B, H] and
  `recurrent_kernel` [H, 4H] (all of one dtype); `mask` (bool [T, B] or None)
  freezes the state where false. With `training` the gradient is the
  hand-written backward pass of `_backward`, for which the forward pass keeps
  its gate activations; otherwise the forward pass keeps nothing (inference
  decodes [K x B] rows at a time) and any gradient taken anyway comes from
  TensorFlow's own differentiation of the loop: the same numbers, slower.
  """
  if not training:
    hs, c_last, _ = _forward(projected, mask, h0, c0, recurrent_kernel, save=False)
    return hs, c_last

  @tf.custom_gradient
  def recurrence(projected, h0, c0, recurrent_kernel):
    hs, c_last, saved = _forward(projected, mask, h0, c0, recurrent_kernel)

    def grad(d_hs, d_c_last):
      d_hs = tf.zeros_like(hs) if d_hs is None else d_hs
      return _backward(d_hs, d_c_last, mask, h0, hs, saved, recurrent_kernel)

    return (hs, c_last), grad

  return recurrence(projected, h0, c0, recurrent_kernel)


class FusedLSTM(keras.layers.Layer):
  """Drop-in for `keras.layers.LSTM(units, return_sequences=...)` (no dropout options).

  call(sequences [B, T, in], initial_state=[h0, c0] or None, mask=bool [B, T] or None)
  returns outputs [B, T, H] (return_sequences) or the last output [B, H], and
  with return_state also the final [h_T, c_T]. The weights live in `self.cell`
  (a `FusedLSTMCell` named `lstm_cell`, as in Keras) whose call is one step.

  `training=True` (what `train_step` passes) uses the hand-written backward
  pass; `training=False` (evaluation, serving) runs a forward loop that keeps
  nothing for a backward pass (see `lstm_recurrence`).

  Under a mixed-precision policy everything runs in the compute dtype, as in
  keras.layers.LSTM. (Keeping the recurrence and the cell state in float32
  under mixed_bfloat16 was tried: forward and backward of the He et al. LSTM
  were ~15% slower on CPU.)
  """

  def __init__(self, units, return_sequences=False, return_state=False, unit_forget_bias=True,
               **kwargs):
    super().__init__(**kwargs)
    self.units = units
    self.return_sequences = return_sequences
    self.return_state = return_state
    self.supports_masking = True
    self.cell = FusedLSTMCell(units, unit_forget_bias=unit_forget_bias, dtype=self.dtype_policy,
                              name="lstm_cell")

  def build(self, input_shape):
    self.cell.build((input_shape[0], input_shape[-1]))

  def compute_mask(self, inputs, mask=None):
    """The input mask for the output sequence, as Keras RNNs do; none for the last output."""
    del inputs
    mask = mask[0] if isinstance(mask, (list, tuple)) else mask
    output_mask = mask if self.return_sequences else None
    return [output_mask, None, None] if self.return_state else output_mask

  def call(self, sequences, initial_state=None, mask=None, training=False):
    """See the class docstring; `training` picks the backward pass (see lstm_recurrence)."""
    kernel, bias = self.input_weights()
    time_major = tf.transpose(tf.cast(sequences, self.compute_dtype), [1, 0, 2])
    steps, batch = tf.shape(time_major)[0], tf.shape(time_major)[1]
    projected = tf.matmul(tf.reshape(time_major, [-1, tf.shape(time_major)[2]]), kernel) + bias
    projected = tf.reshape(projected, [steps, batch, 4 * self.units])
    if sequences.shape[1] is not None:
      projected = tf.ensure_shape(projected, [sequences.shape[1], None, 4 * self.units])
    return self.recur(projected, initial_state, mask, training)

  def input_weights(self):
    """(kernel [in, 4H], bias [4H]) of the input projection, in the compute dtype."""
    return (tf.cast(tf.convert_to_tensor(w), self.compute_dtype)
            for w in (self.cell.kernel, self.cell.bias))

  def recur(self, projected, initial_state=None, mask=None, training=False):
    """The layer's outputs from time-major projected inputs [T, B, 4H] (inputs @ kernel + bias).

    What `call` runs after its one input matmul; a caller that can form the
    projections more cheaply (`LSTMDecoder` shares a sentence's across its
    samples of z) calls this directly.
    """
    dtype = self.compute_dtype
    recurrent_kernel = tf.cast(tf.convert_to_tensor(self.cell.recurrent_kernel), dtype)
    batch = tf.shape(projected)[1]
    if initial_state is None:
      h0 = c0 = tf.zeros([batch, self.units], dtype)
    else:
      h0, c0 = (tf.cast(s, dtype) for s in initial_state)
    time_mask = None if mask is None else tf.transpose(tf.cast(mask, tf.bool))
    hs, c_last = lstm_recurrence(projected, time_mask, h0, c0, recurrent_kernel,
                                 training=bool(training))
    h_last = hs[-1]
    outputs = hs
    if time_mask is not None:
      # A masked step outputs the previous output: the frozen state once a step
      # has been taken, zeros before the first unmasked step.
      started = tf.cast(tf.cumsum(tf.cast(time_mask, tf.int32), axis=0) > 0, tf.bool)
      outputs = tf.where(started[:, :, None], hs, tf.zeros_like(hs))
    result = tf.transpose(outputs, [1, 0, 2]) if self.return_sequences else outputs[-1]
    if self.return_state:
      return result, h_last, c_last
    return result
