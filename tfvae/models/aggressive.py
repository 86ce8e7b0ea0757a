"""Aggressive inference-network training (He et al. 2019; METHODS.md M7).

He et al. ("Lagging inference networks and posterior collapse in variational
autoencoders", ICLR 2019; He's lecture notes (2026) summarise it as "VAE
training that is closer to EM") find that early in training q(z|x) trails the
true posterior of the current decoder, and the decoder learns to do without z.
Their remedy makes each iteration look more like EM: while the aggressive
phase lasts, the encoder alone is optimised first (the E-step, "multiple
gradient updates of phi before one step of theta", He's lecture notes (2026))
and only then does the decoder take one step (the M-step). Once the mutual
information I(x; z) on validation data stops rising from one epoch to the
next, training goes on as a plain VAE. The schedule of their public code, kept
here:

  inner loop   encoder-only steps on fresh batches, summing the loss and the
               number of predicted words; every `check_every` (15) steps the
               window's loss per word is compared with the previous window's
               and the loop ends as soon as it rose; at most `inner_cap`
               (100) steps.
  outer step   one decoder-only step, then the next inner loop.
  phase end    after every epoch, leave the phase for good if validation MI
               fell below the previous epoch's (`AggressivePhaseEnd`), the
               first epoch's being compared with 0.

Encoder and decoder have optimisers of their own: the compiled one
(`model.optimizer`) for the encoder, `model.decoder_optimizer` for the
decoder (and for every other trainable variable outside the encoder). After
the phase both step on every batch. As in He et al.'s code the gradient is
clipped by the global norm over all networks, whichever of them is updated.

How it runs. Under MirroredStrategy an optimiser cannot be applied inside
`tf.cond` in a traced step, so the choice between an encoder-only, a
decoder-only and a joint step is made in Python: each kind is a Keras step
function of its own, and the model's `train_function` is a dispatcher. While
the phase lasts, one call of it (one Keras step, one "batch" for fit and its
callbacks) is one outer iteration of He et al.: the whole inner loop, then
the decoder step, whose logs it returns. An epoch of `steps_per_epoch` steps
therefore holds `steps_per_epoch` decoder updates, as He et al.'s epoch (one
pass of decoder updates over the training batches) does, and reads more
batches than that from the stream: `batches_read` counts them, so that a
resumed run continues the stream where it stopped. The phase and the previous
MI are model weights, which a RunCheckpoint saves.

Deviations from He et al., all forced by one step = one batch of the fit's
data stream:
  * every step reads the next batch of the stream: the inner loop starts on a
    fresh batch rather than on the outer iteration's batch, and the decoder
    step uses the batch after the inner loop, not the batch the inner loop
    started on (He et al. draw the later inner batches at random and give the
    decoder the first one);
  * the epoch logs average the decoder and joint steps only (as He et al.
    report the outer-loop loss); `batch_loss` is updated by every step;
  * the inner loop stops after at most `inner_cap` encoder steps, where He et
    al.'s `while sub_iter < 100` allows 99;
  * validation MI is their estimator with E_q log q(z|x) taken at the sample
    (`EpochMetrics`): the same expectation, without the noise of several
    tenths of a nat that on a few validation batches made the first epoch's
    MI negative near collapse, ending the phase by chance.
"""

import contextlib
import math
import threading
from typing import NamedTuple

from absl import logging
import keras
import tensorflow as tf

from tfvae import distribute
from tfvae.models.base import OptimizerGroup
from tfvae.models.vae import VAE

ENCODER = "encoder"
DECODER = "decoder"
JOINT = "joint"
STEP_KINDS = (ENCODER, DECODER, JOINT)


# ------------------------------------------------------------- pure rules
class InnerLoop(NamedTuple):
  """State of one encoder-only inner loop.

  steps: encoder steps taken in this loop.
  window_loss, window_units: summed loss and predicted units (words) of the
    steps since the last check.
  previous: loss per unit of the last checked window (inf before the first).
  done: the loop has ended; a decoder step is due.
  """
  steps: int = 0
  window_loss: float = 0.0
  window_units: float = 0.0
  previous: float = math.inf
  done: bool = False


def window_improved(previous, current):
  """Whether a window's loss per unit `current` is progress over `previous`.

  He et al.'s code leaves the inner loop when `previous - current < 0`: only
  a rise stops it, a tie does not.
  """
  return current <= previous


def advance_inner_loop(state, loss, units, *, check_every=15, inner_cap=100):
  """The inner loop's state after one more encoder step.

  Args:
    state: the InnerLoop before the step.
    loss: the step's loss summed over its examples.
    units: the number of predicted units (words) of those examples.
    check_every: window length; the loss per unit is compared after every
      `check_every` steps of the loop.
    inner_cap: the most encoder steps one loop takes.

  Returns:
    The new InnerLoop, `done` once a window did not improve on the previous
    one or the loop took `inner_cap` steps.
  """
  steps = state.steps + 1
  window_loss = state.window_loss + loss
  window_units = state.window_units + units
  previous, stalled = state.previous, False
  if steps % check_every == 0:
    current = _per_unit(window_loss, window_units)
    stalled = not window_improved(previous, current)
    previous, window_loss, window_units = current, 0.0, 0.0
  return InnerLoop(steps, window_loss, window_units, previous, stalled or steps >= inner_cap)


def _per_unit(loss, units):
  if units <= 0:
    raise ValueError(f"A window of encoder steps predicted {units} units; count_units must "
                     "count at least one unit per batch.")
  return loss / units


def phase_continues(previous_mi, current_mi):
  """Whether the aggressive phase goes on after an epoch with MI `current_mi`.

  He et al. stop when `current - previous < 0`: a tie goes on, and a NaN MI
  (the comparison fails) ends the phase here.
  """
  return current_mi >= previous_mi


# -------------------------------------------------------------- the model
# The kind of step being traced. MirroredStrategy traces each replica's step
# in a thread of its own, so it is kept per thread.
_TRACING = threading.local()


@contextlib.contextmanager
def _stepping_as(kind):
  previous = getattr(_TRACING, "kind", JOINT)
  _TRACING.kind = kind
  try:
    yield
  finally:
    _TRACING.kind = previous


def _current_step_kind():
  return getattr(_TRACING, "kind", JOINT)


class AggressiveVAE(VAE):
  """A VAE trained aggressively while its phase lasts (He et al. 2019).

  Build it inside the strategy's scope, compile it (the compiled optimiser
  updates the encoder), call it once on a batch and `build_optimizers()`.
  Add `AggressivePhaseEnd` to fit's callbacks right after EpochMetrics.

  Args:
    encoder, decoder, latent_dim: as for VAE.
    decoder_optimizer: the decoder's Keras optimiser; None copies the
      compiled optimiser's class and settings at the first `compile`.
    count_units: function x -> [B] number of predicted units per example
      (words: the data set's `count_tokens`); None counts 1 per example.
    inner_cap: the most encoder steps of one inner loop (He et al.: 100).
    check_every: encoder steps per window of the stopping rule (15).
    aggressive: whether training starts in the aggressive phase.
    **kwargs: beta, seed, grad_clip_norm, name... as for VAE.

  Attributes:
    last_inner_loop: the InnerLoop that ended before the latest decoder step
      (None before the first).
  """

  def __init__(self, encoder, decoder, latent_dim, *, decoder_optimizer=None, count_units=None,
               inner_cap=100, check_every=15, aggressive=True, **kwargs):
    super().__init__(encoder, decoder, latent_dim, **kwargs)
    if inner_cap < 1 or check_every < 1:
      raise ValueError(f"inner_cap ({inner_cap}) and check_every ({check_every}) must be >= 1.")
    self.decoder_optimizer = decoder_optimizer
    self.count_units = count_units
    self.inner_cap = int(inner_cap)
    self.check_every = int(check_every)
    self.aggressive = self.add_state("aggressive", float(bool(aggressive)))
    self.previous_mi = self.add_state("previous_mi", 0.0, dtype="float64")  # He et al.: from 0.
    self.steps_taken = self.add_state("steps_taken", 0, dtype="int64")
    self.last_inner_loop = None
    self.batch_units = self.add_state("batch_units", 0.0)
    self.batch_examples = self.add_state("batch_examples", 0.0)

  # Optimisers.
  def compile(self, *args, **kwargs):
    super().compile(*args, **kwargs)
    if self.decoder_optimizer is None:
      with self.distribute_strategy.scope():
        self.decoder_optimizer = type(self.optimizer).from_config(self.optimizer.get_config())

  def optimizer_groups(self):
    """The encoder's variables (compiled optimiser) and every other trainable variable."""
    encoder = list(self.encoder.trainable_variables)
    in_encoder = {id(v) for v in encoder}
    return {ENCODER: OptimizerGroup(self.optimizer, encoder),
            DECODER: OptimizerGroup(self.decoder_optimizer,
                                    [v for v in self.trainable_variables
                                     if id(v) not in in_encoder])}

  # The hooks of the traced steps. As in He et al.'s code the gradient is
  # clipped by the global norm over both groups, whichever is updated.
  def active_groups(self):
    kind = _current_step_kind()
    return (ENCODER, DECODER) if kind == JOINT else (kind,)

  @property
  def training_step(self):
    """Batches read, over every kind of step (the compiled optimiser counts encoder steps)."""
    return self.steps_taken

  def post_step_update(self, x, per_example_loss, terms):
    """Stores the global batch's number of predicted units and of examples; counts the step."""
    if self.count_units is None:
      units = tf.ones(tf.shape(x)[:1], tf.float32)
    else:
      units = tf.cast(self.count_units(x), tf.float32)
    totals = distribute.global_sum(tf.stack([tf.reduce_sum(units), tf.cast(tf.size(units), tf.float32)]))
    self.batch_units.assign(totals[0])
    self.batch_examples.assign(totals[1])
    self.steps_taken.assign_add(1)

  def step_counts_in_logs(self):
    """Encoder-only steps stay out of the epoch logs (He et al. report the outer loop's loss)."""
    return _current_step_kind() != ENCODER

  # The dispatcher.
  def make_train_function(self, force=False):
    """Installs a Python dispatcher over one Keras step function per kind of step."""
    if self.train_function is not None and not force:
      return self.train_function
    self._check_training_setup()
    step_functions = {kind: self._keras_step_function(kind) for kind in STEP_KINDS}

    def train_function(iterator):
      if not self.in_aggressive_phase:
        return step_functions[JOINT](iterator)
      self.last_inner_loop = self._run_inner_loop(step_functions[ENCODER], iterator)
      return step_functions[DECODER](iterator)

    self.train_function = train_function
    return train_function

  def _run_inner_loop(self, encoder_step, iterator):
    """Encoder-only steps on the next batches until He et al.'s rule ends the loop.

    Returns:
      The final InnerLoop (its `steps` is the number of encoder updates).
    """
    state = InnerLoop()
    while not state.done:
      encoder_step(iterator)
      loss = float(self.batch_loss.numpy()) * float(self.batch_examples.numpy())
      state = advance_inner_loop(state, loss, float(self.batch_units.numpy()),
                                 check_every=self.check_every, inner_cap=self.inner_cap)
    logging.vlog(1, "Inner loop ended after %d encoder steps.", state.steps)
    return state

  def _keras_step_function(self, kind):
    """Keras's train function (iterator -> logs) around `train_step` traced as `kind`.

    The one use of Keras's private `_make_function`: it is what Keras's own
    `make_train_function` wraps a step in (strategy.run, cross-replica
    reduction of the logs, tf.function with the model's jit_compile, the
    end-of-data handling of fit). Copying it would copy Keras internals; if
    Keras renames it, only this line changes. The step goes through
    `self.train_step`, so wrappers installed on it (e.g.
    strategies.make_logs_reducible) apply to every kind.
    """
    def step(data):
      with _stepping_as(kind):
        return self.train_step(data)
    return self._make_function(step)

  def _check_training_setup(self):
    if self.steps_per_execution != 1:
      raise ValueError("AggressiveVAE chooses each step's kind between steps; compile it with "
                       f"steps_per_execution=1, not {self.steps_per_execution}.")
    if self.decoder_optimizer is None:
      raise ValueError("AggressiveVAE needs a decoder_optimizer; compile the model first.")

  # The phase.
  @property
  def in_aggressive_phase(self):
    return bool(self.aggressive.numpy() > 0.5)

  @property
  def batches_read(self):
    """Training batches read since the run started, over all kinds of step."""
    return int(self.steps_taken.numpy())

  def observe_validation_mi(self, mi):
    """Applies He et al.'s end-of-epoch rule to validation MI; returns whether the phase goes on."""
    if not self.in_aggressive_phase:
      return False
    previous = float(self.previous_mi.numpy())
    self.previous_mi.assign(mi)
    if phase_continues(previous, mi):
      return True
    logging.info("Validation MI went from %.4f to %.4f: leaving the aggressive phase.",
                 previous, mi)
    self.end_aggressive_phase()
    return False

  def end_aggressive_phase(self):
    """Trains as a plain VAE from the next step on (both networks every step)."""
    self.aggressive.assign(0.0)


class AggressivePhaseEnd(keras.callbacks.Callback):
  """Leaves the aggressive phase once validation MI stops rising (He et al. 2019).

  Reads `logs["val_mi"]` at the end of every epoch, so it must come after
  EpochMetrics (which writes it); writes `logs["aggressive"]` (1 while the
  phase lasts, 0 after), so it must come before TensorBoard and before
  EpochCheckpoint (which then saves the decision).
  """

  def on_epoch_end(self, epoch, logs=None):
    if logs is None:
      return
    if "val_mi" not in logs:
      raise KeyError("AggressivePhaseEnd needs logs['val_mi']; place EpochMetrics before it "
                     "in the callback list.")
    logs["aggressive"] = float(self.model.observe_validation_mi(float(logs["val_mi"])))


class SegmentStarts(keras.callbacks.Callback):
  """Lagging inference networks in R segments (Yacoby et al. (2020), appendix E).

  Yacoby et al. run He et al.'s method by dividing the training steps into R
  equal segments; each starts by training the inference network alone and
  then trains both networks jointly. Here the first outer step of each
  segment is an aggressive one (an inner loop of encoder-only steps under He
  et al.'s stopping rule, then a decoder step) and the others are joint
  steps. Segments are counted in outer steps (the decoder optimiser's
  iterations), so a resumed run keeps its segments; it replaces
  `AggressivePhaseEnd`.

  Args:
    total_steps: outer steps of the whole run (epochs x steps_per_epoch).
    segments: R, 1 <= R <= total_steps.
  """

  def __init__(self, total_steps, segments):
    super().__init__()
    if not 1 <= segments <= total_steps:
      raise ValueError(f"segments must be in [1, {total_steps}] (the run's steps), got "
                       f"{segments}.")
    self.segment_length = total_steps / segments

  def on_train_batch_begin(self, batch, logs=None):
    step = int(self.model.decoder_optimizer.iterations.numpy())
    starts_segment = (step % self.segment_length) < 1
    self.model.aggressive.assign(float(starts_segment))

