"""Keras models, each with its own train_step, and `build` from a config."""

from tfvae import latents
from tfvae import nets
from tfvae.data import catalog
from tfvae.models.aggressive import AggressivePhaseEnd
from tfvae.models.aggressive import AggressiveVAE
from tfvae.models.base import LatentVariableModel
from tfvae.models.base import OptimizerGroup
from tfvae.models.control_vae import ControlVAE
from tfvae.models.monte_carlo_vae import MonteCarloVAE
from tfvae.models.sa_vae import SAVAE
from tfvae.models.vae import VAE
from tfvae.models.vq_vae import VQVAE

__all__ = ["AggressivePhaseEnd", "AggressiveVAE", "ControlVAE", "LatentVariableModel",
           "MonteCarloVAE", "OptimizerGroup", "SAVAE", "VAE", "VQVAE", "build", "build_networks",
           "latent_family"]


def build_networks(config, dataset):
  """Encoder and decoder for `dataset` (a tfvae.data.DataSet) and `config`.

  Text data sets take LSTM networks (He et al. 2019, or 004's "bilstm":
  bidirectional encoder, z added to the decoder's inputs); image data sets take the
  MLP or the convolutional networks; symbol data sets (D2) 004's dense
  networks, whose decoder has one hidden layer for categorical latents.
  """
  config = config.resolved()
  family = latent_family(config)
  expected = catalog.NETWORKS_BY_KIND[dataset.kind]
  if config.network not in expected:
    raise ValueError(f"--network={config.network} cannot model {dataset.kind} data set "
                     f"{dataset.name!r}; use --network={' or --network='.join(expected)}.")
  if config.network in ("lstm", "bilstm"):
    vocab_size = dataset.vocab.size
    encoder_class = nets.LSTMEncoder if config.network == "lstm" else nets.BiLSTMEncoder
    encoder = encoder_class(vocab_size, config.embed_dim, config.hidden_dim, family,
                            name="encoder")
    decoder = nets.LSTMDecoder(vocab_size, config.embed_dim, config.hidden_dim,
                               config.latent_dim, dropout_in=config.dropout_in,
                               dropout_out=config.dropout_out,
                               z_input="concat" if config.network == "lstm" else "add",
                               share_dropout_masks=config.share_dropout_masks, name="decoder")
    return encoder, decoder
  if config.network == "symbol":
    decoder_layers = 2 if family.reparameterised else 1
    return (nets.SymbolEncoder(dataset.num_symbols, family, config.embed_dim, config.hidden_dim,
                               name="encoder"),
            nets.SymbolDecoder(dataset.num_symbols, config.hidden_dim, decoder_layers,
                               name="decoder"))
  if config.network == "mlp":
    return (nets.MLPEncoder([config.hidden_dim] * 2, family, name="encoder"),
            nets.MLPDecoder([config.hidden_dim] * 2, dataset.event_shape, name="decoder"))
  return (nets.ConvEncoder(family, hidden_dim=config.hidden_dim, name="encoder"),
          nets.ConvDecoder(hidden_dim=config.hidden_dim, name="decoder"))


def latent_family(config):
  """The `tfvae.latents` family of `config`: latent_type, latent_dim, num_categories.

  A VQ-VAE's latents are `latent_dim` vectors of size `embed_dim`, each
  quantised to one of `num_categories` codes.
  """
  config = config.resolved()
  if config.model == "vqvae":
    return latents.VectorQuantizedLatents(config.latent_dim, config.num_categories,
                                          config.embed_dim)
  return latents.make(config.latent_type, config.latent_dim,
                      num_categories=config.num_categories, embed_dim=config.embed_dim)


def build(config, dataset):
  """The model named by `config.model`, not yet compiled."""
  config = config.resolved()
  encoder, decoder = build_networks(config, dataset)
  family = latent_family(config)
  prior = latents.make_prior(config.prior, family, config.prior_components)
  common = dict(beta=config.beta, seed=config.seed, grad_clip_norm=config.grad_clip_norm,
                objective=config.objective, free_bits=config.fb_lambda, prior=prior, name="vae")
  if config.model == "vae":
    return VAE(encoder, decoder, family, **common)
  if config.model == "controlvae":
    del common["beta"]  # The controller sets it, starting from beta_min.
    return ControlVAE(encoder, decoder, family, desired_kl=config.desired_kl,
                      kp=config.kp, ki=config.ki, beta_min=config.beta_min,
                      beta_max=config.beta_max, **common)
  if config.model == "aggressive":
    count_units = dataset.count_tokens if dataset.kind == "text" else None
    return AggressiveVAE(encoder, decoder, family, count_units=count_units,
                         inner_cap=config.inner_cap, check_every=config.check_every, **common)
  if config.model == "savae":
    return SAVAE(encoder, decoder, family, refinement_steps=config.refine_steps,
                 refinement_step_size=config.refine_step_size,
                 refinement_momentum=config.refine_momentum, **common)
  if config.model == "monte_carlo":
    for name in ("beta", "objective", "free_bits"):
      del common[name]
    return MonteCarloVAE(encoder, decoder, family, mi_objective=config.mi_objective,
                         estimator=config.estimator, num_samples=config.num_samples,
                         mi_lambda=config.mi_lambda, renyi_alpha=config.renyi_alpha,
                         num_marginal=config.num_marginal, num_kl=config.num_kl, **common)
  if config.model == "vqvae":
    for name in ("beta", "objective", "free_bits"):
      del common[name]
    return VQVAE(encoder, decoder, config.latent_dim, config.num_categories, config.embed_dim,
                 commitment=config.vq_commitment, decay=config.vq_decay, **common)
  raise ValueError(f"Unknown model {config.model!r}.")
