"""The run configuration: one plain dataclass shared by launchers and library.

Fields left as None take the data set's defaults (`DATASET_DEFAULTS`), so
`--dataset=ptb` alone gives the He et al. (2019) PTB architecture, and the
default data set gives a model small enough to train on 2 CPU cores in minutes.
"""

import dataclasses
import json

from tfvae import methods
from tfvae.data import catalog
from tfvae.errors import ConfigError
from tfvae.latents.choices import LATENT_TYPES
from tfvae.latents.choices import PRIORS
from tfvae.objectives.choices import VAE_OBJECTIVES

BETA_SCHEDULES = ("constant", "linear", "cyclical")
NETWORKS = tuple(name for names in catalog.NETWORKS_BY_KIND.values() for name in names)
OPTIMIZERS = ("adam", "sgd")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")

# Defaults per data set; anything not listed falls back to `_GENERIC_DEFAULTS`.
_GENERIC_DEFAULTS = dict(network="lstm", embed_dim=512, hidden_dim=1024, latent_dim=32,
                         batch_size=32, epochs=30, learning_rate=1e-3,
                         eval_proposal_variance=1.0)
DATASET_DEFAULTS = {
    "synthetic_mog": dict(embed_dim=64, hidden_dim=128, latent_dim=2, batch_size=64,
                          epochs=10),
    "binarized_mnist": dict(network="conv", hidden_dim=256, latent_dim=32, batch_size=64,
                            epochs=20),
    "omniglot": dict(network="conv", hidden_dim=256, latent_dim=32, batch_size=64,
                     epochs=20),
    "array_file": dict(network="conv", hidden_dim=256, latent_dim=32, batch_size=64,
                       epochs=20),
    # Melis et al. (2022), section 7.1.1: embeddings and hidden layers of 128, 40
    # continuous latents.
    "uniform10k": dict(network="symbol", embed_dim=128, hidden_dim=128, latent_dim=40,
                       batch_size=64, epochs=5),
    # Yacoby et al. (2020), appendix E: the networks of the true process, 2-d z,
    # learning rate 0.01. The paper trains 30k epochs; 1,000 epochs of 5 batches
    # (about a minute and a half on 2 CPU cores) brought Linear JTEx's test NLL
    # (replicate 0) to 3.14 nats, the true model's being 2.96. The test NLL's
    # proposal has q's variance doubled (their eq. 48).
    **{name: dict(network="libi", latent_dim=2, batch_size=100, epochs=1000,
                  learning_rate=0.01, eval_proposal_variance=2.0)
       for name in ("libi_linear_jtex", "libi_cubic_jtex", "libi_gaussian", "libi_mobius")},
}

# Fields that define the model's variables: a checkpoint made with other values
# cannot be restored into this model.
ARCHITECTURE_FIELDS = ("model", "dataset", "data_options", "max_length", "vocab_size", "network",
                       "embed_dim", "hidden_dim", "latent_dim", "latent_type", "num_categories",
                       "kappa", "iaf_steps", "iaf_width", "prior", "prior_components",
                       "pseudo_input_length", "flow_couplings", "flow_hidden", "optimizer")
# Fields that fix the encoder's variables (what --init_encoder_from must match).
ENCODER_FIELDS = ("dataset", "data_options", "max_length", "vocab_size", "network", "embed_dim",
                  "hidden_dim", "latent_dim", "latent_type", "num_categories", "kappa",
                  "iaf_steps", "iaf_width")


@dataclasses.dataclass
class SharedConfig:
  """The fields every run has; `Config` adds each method's options (`tfvae.methods`)."""

  model: str = "vae"
  preset: str | None = None
  dataset: str = "synthetic_mog"
  data_dir: str | None = None
  data_options: dict = dataclasses.field(default_factory=dict)
  max_length: int | None = None
  vocab_size: int | None = None
  network: str | None = None
  embed_dim: int | None = None
  hidden_dim: int | None = None
  latent_dim: int | None = None
  # Gaussian latents, latent_dim categoricals of num_categories (Melis et
  # al. (2022); M24), or unit vectors on the sphere in R^latent_dim (M15).
  latent_type: str = "gaussian"
  num_categories: int = 10
  # Spherical latents: None learns q's concentration per example; a number
  # fixes it, as Xu and Durrett (2018) do.
  kappa: float | None = None
  # Gaussian latents: iaf_steps > 0 pushes q(z|x) through that many steps of
  # an inverse autoregressive flow, each MADE iaf_width * latent_dim units
  # wide (Kingma et al. (2016); M18).
  iaf_steps: int = 0
  iaf_width: int = 2
  # p(z): None for the latents' own (N(0, I) or uniform); learned: "mog"
  # with prior_components components, "vamp" over prior_components
  # pseudo-inputs (sequences of pseudo_input_length embedding vectors for
  # text; METHODS.md M13), "flow" a RealNVP of flow_couplings couplings with
  # networks of flow_hidden units (M12).
  prior: str | None = None
  prior_components: int = 10
  pseudo_input_length: int = 20
  flow_couplings: int = 4
  flow_hidden: int = 64
  # Text decoders: dropout of the LSTM's inputs and outputs, masks shared by
  # the K samples of a sentence (Melis et al. (2022), section 7.2.5).
  dropout_in: float = 0.0
  dropout_out: float = 0.0
  share_dropout_masks: bool = False
  beta: float = 1.0
  # Objective and beta schedule (METHODS.md M2-M6).
  objective: str = "elbo"
  fb_lambda: float | None = None
  beta_schedule: str = "constant"
  anneal_start: float = 0.0
  anneal_epochs: float = 10.0
  cycles: int = 4
  cycle_ramp: float = 0.5
  # AE pre-training (M6): start from the encoder of another run's checkpoint;
  # a stage that continues another run's model: from all its weights.
  init_encoder_from: str | None = None
  init_weights_from: str | None = None
  epochs: int | None = None
  steps_per_epoch: int | None = None
  batch_size: int | None = None
  optimizer: str = "adam"
  adam_beta1: float = 0.9
  learning_rate: float | None = None
  grad_clip_norm: float | None = None
  seed: int = 0
  deterministic: bool = False
  jit_compile: bool = False
  lstm: str = "auto"
  mixed_precision: str = "float32"
  model_dir: str | None = None
  strategy: str = "default"
  tpu: str | None = None
  # Multi-worker runs: seconds a worker waits for the others in a collective
  # op before it stops with an error naming the missing worker.
  collective_timeout: int = 300
  evaluate_test: bool = True
  test_examples: int | None = None
  generated_sentences: int = 0
  latent_pictures: int = 500
  eval_samples: int = 500
  eval_chunk_size: int = 100
  eval_batch_size: int | None = None
  # The final IW-NLL's proposal is q(z|x) with its variance multiplied by this
  # (Yacoby et al. (2020), eq. 48, use 2 on their synthetic sets).
  eval_proposal_variance: float | None = None
  # The final evaluation also scores the validation split (results["valid"]),
  # e.g. to choose among restarts by a validation objective.
  evaluate_valid: bool = False
  true_kl_samples: int = 0
  epoch_eval_samples: int = 20
  epoch_eval_batches: int = 10
  log_every_steps: int = 50
  verbose: int = 1

  def resolved(self):
    """A copy with every None default filled in from the data set's defaults."""
    defaults = dict(_GENERIC_DEFAULTS)
    defaults.update(DATASET_DEFAULTS.get(self.dataset, {}))
    values = dataclasses.asdict(self)
    for name, default in defaults.items():
      if values.get(name) is None:
        values[name] = default
    return type(self)(**values)

  def validate(self):
    """Raises ConfigError naming the field, the bad value and the allowed ones."""
    _check_choice("model", self.model, methods.names())
    _check_choice("objective", self.objective, VAE_OBJECTIVES)
    _check_choice("beta_schedule", self.beta_schedule, BETA_SCHEDULES)
    _check_choice("optimizer", self.optimizer, OPTIMIZERS)
    _check_choice("strategy", self.strategy, STRATEGIES)
    _check_choice("mixed_precision", self.mixed_precision, PRECISIONS)
    _check_choice("lstm", self.lstm, catalog.LSTM_IMPLEMENTATIONS)
    _check_choice("latent_type", self.latent_type, LATENT_TYPES)
    if self.network is not None:
      _check_choice("network", self.network, NETWORKS)
    for name in ("embed_dim", "hidden_dim", "latent_dim", "epochs", "batch_size",
                 "steps_per_epoch", "max_length", "vocab_size", "eval_samples",
                 "eval_chunk_size", "eval_batch_size", "log_every_steps", "cycles",
                 "test_examples", "num_categories", "collective_timeout"):
      value = getattr(self, name)
      if value is not None and value <= 0:
        raise ConfigError(f"--{name} must be a positive integer, got {value}.")
    if self.true_kl_samples < 0:
      raise ConfigError(f"--true_kl_samples must be >= 0, got {self.true_kl_samples}.")
    if self.eval_proposal_variance is not None and not self.eval_proposal_variance > 0:
      raise ConfigError("--eval_proposal_variance multiplies the variance of q(z|x) in the "
                        f"IW-NLL's proposal; it must be positive, got "
                        f"{self.eval_proposal_variance}.")
    if self.init_encoder_from and self.init_weights_from:
      raise ConfigError("--init_weights_from loads every weight, the encoder's too: drop "
                        "--init_encoder_from.")
    if self.learning_rate is not None and self.learning_rate <= 0:
      raise ConfigError(f"--learning_rate must be positive, got {self.learning_rate}.")
    if self.beta < 0:
      raise ConfigError(f"--beta must be >= 0, got {self.beta}.")
    for name in ("dropout_in", "dropout_out"):
      if not 0.0 <= getattr(self, name) < 1.0:
        raise ConfigError(f"--{name} must be in [0, 1), got {getattr(self, name)}.")
    if not 0.0 <= self.adam_beta1 < 1.0:
      raise ConfigError(f"--adam_beta1 must be in [0, 1), got {self.adam_beta1}.")
    self._validate_remedies()
    self._validate_latents()
    self._validate_flow()
    self._validate_prior()
    self._validate_data()
    if self.grad_clip_norm is not None and self.grad_clip_norm <= 0:
      raise ConfigError(f"--grad_clip_norm must be positive, got {self.grad_clip_norm}.")
    if self.strategy == "tpu" and not self.tpu:
      raise ConfigError("--strategy=tpu needs --tpu=ADDRESS (a TPU name or grpc:// address).")
    if self.strategy == "multi_worker" and not self.model_dir:
      raise ConfigError("--strategy=multi_worker needs --model_dir: the same directory on "
                        "every worker, on a file system they share (or gs://...).")
    return self

  def _validate_latents(self):
    """What spherical latents (M15) need: d >= 2, an objective without per-dimension KL."""
    if self.latent_type != "spherical":
      if self.kappa is not None:
        raise ConfigError(f"--kappa sets the concentration of spherical latents; it needs "
                          f"--latent_type=spherical, not --latent_type={self.latent_type}.")
      return
    if self.kappa is not None and not self.kappa > 0:
      raise ConfigError(f"--kappa must be positive (or unset: learned per example), got "
                        f"{self.kappa}.")
    if self.latent_dim is not None and self.latent_dim < 2:
      raise ConfigError(f"--latent_type=spherical puts z on the unit sphere in R^d and needs "
                        f"--latent_dim >= 2, got {self.latent_dim}.")
    if self.objective == "free_bits":
      raise ConfigError("--objective=free_bits clamps the KL of each latent dimension, and a "
                        "spherical posterior does not factorise over dimensions: use "
                        "--objective=elbo (--kappa fixes the KL, as Xu and Durrett (2018) do).")
    if self.objective == "autoencoder":
      raise ConfigError("--objective=autoencoder decodes z = E_q[z], which for spherical "
                        "latents lies inside the ball, off the sphere: use --objective=elbo.")

  def _validate_flow(self):
    """What an IAF posterior (M18) needs: Gaussian latents and a method that takes a flow."""
    if self.iaf_steps < 0 or self.iaf_width < 1:
      raise ConfigError(f"--iaf_steps must be >= 0 (0: no flow) and --iaf_width >= 1, got "
                        f"--iaf_steps={self.iaf_steps} --iaf_width={self.iaf_width}.")
    if not self.iaf_steps:
      return
    if self.latent_type != "gaussian":
      raise ConfigError(f"--iaf_steps pushes Gaussian latents through a flow; it needs "
                        f"--latent_type=gaussian, not --latent_type={self.latent_type}.")
    if not methods.get(self.model).flow_posteriors:
      takers = [m.name for m in methods.METHODS.values() if m.flow_posteriors]
      raise ConfigError(f"--model={self.model} cannot train an IAF posterior (--iaf_steps); "
                        f"use --model={' or --model='.join(takers)}, or --iaf_steps=0.")
    if self.objective == "autoencoder":
      raise ConfigError("--objective=autoencoder decodes z = mu(x) without a posterior; it "
                        "takes no flow: use --iaf_steps=0.")

  def _validate_prior(self):
    if self.prior is None:
      return
    _check_choice("prior", self.prior, PRIORS)
    gaussian = self.latent_type == "gaussian" and not methods.get(self.model).discrete_latents
    method = methods.get(self.model)
    if (self.prior == "uniform") == gaussian:
      own = "standard_normal, mog, vamp or flow" if gaussian else "uniform"
      raise ConfigError(f"--prior={self.prior} does not fit these latents; use --prior={own}.")
    if self.prior == "vamp" and not method.vamp_prior:
      takers = [m.name for m in methods.METHODS.values() if m.vamp_prior]
      raise ConfigError(f"--model={self.model} changes the encoder's output before it becomes "
                        "q(z|x), so a VampPrior cannot be made of it: use --model="
                        f"{' or --model='.join(takers)}, or another --prior.")
    if (self.prior in ("mog", "vamp", "flow") and self.objective == "free_bits"
        and method.free_bits_per_dimension):
      raise ConfigError(f"--objective=free_bits with --model={self.model} clamps the KL per "
                        f"dimension, which needs a prior that factorises; --prior={self.prior} "
                        "does not: use --prior=standard_normal (or --model=flow_prior, whose "
                        "free bits clamp the whole KL).")
    for name in ("prior_components", "pseudo_input_length", "flow_couplings", "flow_hidden"):
      if getattr(self, name) < 1:
        raise ConfigError(f"--{name} must be a positive integer, got {getattr(self, name)}.")

  def data_request_options(self):
    """The options passed to `tfvae.data.load`: --data_option values and --vocab_size."""
    options = dict(self.data_options)
    if self.vocab_size is not None:
      options["vocab_size"] = self.vocab_size
    return options

  def _validate_data(self):
    """Data set name, options and network, checked from the catalogue (no data read)."""
    entry = catalog.check_request(self.dataset, self.data_request_options(), self.max_length)
    networks = catalog.NETWORKS_BY_KIND[entry.kind]
    if self.network is not None and self.network not in networks:
      raise ConfigError(f"--network={self.network} cannot model {entry.kind} data set "
                        f"{self.dataset!r}; use --network={' or --network='.join(networks)}.")
    network = self.network or DATASET_DEFAULTS.get(self.dataset, {}).get("network")
    if network == "libi" and self.latent_dim not in (None, 2):
      raise ConfigError(f"--network=libi decodes z in R^2 with the networks of the true "
                        f"process (Yacoby et al. (2020), appendix E); drop "
                        f"--latent_dim={self.latent_dim}.")

  def _validate_remedies(self):
    """The shared remedies (objective, beta schedule) against the method; its own checks."""
    method = methods.get(self.model)
    if self.objective not in method.objectives:
      raise ConfigError(f"--model={self.model} trains --objective="
                        f"{' or --objective='.join(method.objectives)}, not "
                        f"--objective={self.objective}.")
    if self.beta_schedule != "constant" and not method.beta_schedule:
      raise ConfigError(f"--beta_schedule={self.beta_schedule} does not apply to --model="
                        f"{self.model} ({method.summary}); leave --beta_schedule=constant.")
    if self.latent_type not in method.latent_types:
      learners = [m.name for m in methods.METHODS.values() if self.latent_type in m.latent_types]
      raise ConfigError(f"--model={self.model} cannot learn --latent_type={self.latent_type}; "
                        f"use --model={' or --model='.join(learners)}.")
    if (self.objective == "free_bits") != (self.fb_lambda is not None):
      raise ConfigError("--fb_lambda (the free-bits target rate in nats) goes with "
                        "--objective=free_bits and only with it; got "
                        f"--objective={self.objective} --fb_lambda={self.fb_lambda}.")
    if self.fb_lambda is not None and self.fb_lambda <= 0:
      raise ConfigError(f"--fb_lambda must be positive, got {self.fb_lambda}.")
    if self.beta_schedule != "constant" and self.objective == "autoencoder":
      raise ConfigError(f"--beta_schedule={self.beta_schedule} weights a KL term; "
                        "--objective=autoencoder has none.")
    if not 0.0 <= self.anneal_start <= 1.0:
      raise ConfigError(f"--anneal_start must be in [0, 1], got {self.anneal_start}.")
    if self.anneal_epochs <= 0:
      raise ConfigError(f"--anneal_epochs must be positive, got {self.anneal_epochs}.")
    if not 0.0 < self.cycle_ramp <= 1.0:
      raise ConfigError(f"--cycle_ramp must be in (0, 1], got {self.cycle_ramp}.")
    for option in method.options:
      if option.choices is not None:
        _check_choice(option.name, getattr(self, option.name), option.choices)
    method.validate(self)
    if self.latent_pictures < 0:
      raise ConfigError(f"--latent_pictures must be 0 (off) or a number of validation "
                        f"examples, got {self.latent_pictures}.")
    if self.generated_sentences < 0 or self.generated_sentences == 1:
      raise ConfigError("--generated_sentences must be 0 (off) or at least 2 (self-BLEU "
                        f"needs references), got {self.generated_sentences}.")

  def evaluation_batch_size(self):
    """Examples per evaluation batch: the decoder sees batch x chunk rows at once.

    Defaults to about 1,000 decoded rows (e.g. 10 sentences x 100 samples), which
    keeps the [rows, T, V] logits of a 10k-word vocabulary near 1 GB.
    """
    if self.eval_batch_size is not None:
      return self.eval_batch_size
    return max(1, 1000 // self.eval_chunk_size)

  def architecture(self):
    """The subset of fields that fixes the model's variables."""
    return {name: getattr(self, name) for name in ARCHITECTURE_FIELDS}

  def encoder_architecture(self):
    """The subset of fields that fixes the encoder's variables."""
    return {name: getattr(self, name) for name in ENCODER_FIELDS}

  def to_json(self):
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, values):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
      raise ConfigError(f"Unknown config fields {unknown}; known fields: {sorted(known)}. "
                        f"(Options of methods outside tfvae exist when their module is named "
                        f"in ${methods.PLUGINS_VARIABLE}.)")
    return cls(**values)


def _option_field(option):
  """(name, type, field) of a method's `Option` for `dataclasses.make_dataclass`."""
  annotation = option.value_type if option.default is not None else option.value_type | None
  return option.name, annotation, dataclasses.field(default=option.default)


Config = dataclasses.make_dataclass(
    "Config", [_option_field(option) for option in methods.options()], bases=(SharedConfig,),
    namespace={"__doc__": "Everything that defines a training run: the shared fields and "
                          "every method's options (see launch/train.py for the flags)."})
Config.__module__ = __name__


def _check_choice(name, value, choices):
  if value not in choices:
    raise ConfigError(f"--{name}={value!r} is not one of {', '.join(choices)}.")
