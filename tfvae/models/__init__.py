"""The models (one `LatentVariableModel` base, its subclasses) and the parts a config builds."""

from tfvae import latents
from tfvae import nets
from tfvae.data import catalog
from tfvae.data import libi as libi_sets
from tfvae.data import vectors
from tfvae.models.aggressive import AggressivePhaseEnd
from tfvae.models.aggressive import AggressiveVAE
from tfvae.models.aggressive import SegmentStarts
from tfvae.models.base import LatentVariableModel
from tfvae.models.libi import LiBIVAE
from tfvae.models.base import OptimizerGroup
from tfvae.models.bn_vae import BNVAE
from tfvae.models.control_vae import ControlVAE
from tfvae.models.control_vae import KLController
from tfvae.models.delta_vae import DeltaVAE
from tfvae.models.dual_kl import DualKLVAE
from tfvae.models.du_vae import DUVAE
from tfvae.models.flow_prior import FlowPriorVAE
from tfvae.models.mae import MAE
from tfvae.models.monte_carlo_vae import MonteCarloVAE
from tfvae.models.sa_vae import SAVAE
from tfvae.models.vae import VAE
from tfvae.models.vq_vae import VQVAE

__all__ = ["AggressivePhaseEnd", "AggressiveVAE", "BNVAE", "ControlVAE", "DeltaVAE", "DualKLVAE", "DUVAE", "FlowPriorVAE", "KLController",
           "LatentVariableModel", "LiBIVAE", "MAE",
           "MonteCarloVAE", "OptimizerGroup", "SAVAE", "SegmentStarts", "VAE", "VQVAE", "build_networks",
           "latent_family", "make_prior", "model_arguments"]


def build_networks(config, dataset, family=None):
  """Encoder and decoder for `dataset` (a tfvae.data.DataSet), `config` and the latent `family`.

  Text data sets take LSTM networks (He et al. 2019, or the "bilstm" of Melis et
  al. (2022): bidirectional encoder, z added to the decoder's inputs); image data
  sets take the MLP or the convolutional networks; symbol data sets (D2) the
  dense networks of Melis et al. (2022), whose decoder has one hidden layer for
  categorical latents; the LiBI sets (vectors) the networks of Yacoby et al.
  (2020), appendix E (`tfvae.nets.libi`), which decode z in R^2 as it is.
  `family` defaults to `latent_family(config)`.

  Raises:
    ValueError: a network that cannot model the data set, or LiBI networks
      for latents other than z in R^2 read as they are.
  """
  config = config.resolved()
  family = family or latent_family(config)
  expected = catalog.NETWORKS_BY_KIND[dataset.kind]
  if config.network not in expected:
    raise ValueError(f"--network={config.network} cannot model {dataset.kind} data set "
                     f"{dataset.name!r}; use --network={' or --network='.join(expected)}.")
  if config.network in ("lstm", "bilstm"):
    vocab_size = dataset.vocab.size
    encoder_class = nets.LSTMEncoder if config.network == "lstm" else nets.BiLSTMEncoder
    encoder = encoder_class(vocab_size, config.embed_dim, config.hidden_dim, family,
                            lstm=config.lstm, name="encoder")
    decoder = nets.LSTMDecoder(vocab_size, config.embed_dim, config.hidden_dim,
                               config.latent_dim, dropout_in=config.dropout_in,
                               dropout_out=config.dropout_out,
                               z_input="concat" if config.network == "lstm" else "add",
                               share_dropout_masks=config.share_dropout_masks,
                               lstm=config.lstm, name="decoder")
    return encoder, decoder
  if config.network == "symbol":
    decoder_layers = 2 if family.reparameterised else 1
    return (nets.SymbolEncoder(dataset.num_symbols, family, config.embed_dim, config.hidden_dim,
                               name="encoder"),
            nets.SymbolDecoder(dataset.num_symbols, config.hidden_dim, decoder_layers,
                               name="decoder"))
  if config.network == "libi":
    _check_libi_latents(family, dataset)
    kind = vectors.libi_kind(dataset.name)
    return (nets.LiBIEncoder(kind, family, name="encoder"),
            nets.libi_decoder(kind, name="decoder"))
  if config.network == "mlp":
    return (nets.MLPEncoder([config.hidden_dim] * 2, family, name="encoder"),
            nets.MLPDecoder([config.hidden_dim] * 2, dataset.event_shape, name="decoder"))
  return (nets.ConvEncoder(family, hidden_dim=config.hidden_dim, name="encoder"),
          nets.ConvDecoder(hidden_dim=config.hidden_dim, name="decoder"))


def _check_libi_latents(family, dataset):
  """ValueError unless the decoder reads z in R^2 as it is (no embedding, as the true process)."""
  shape = tuple(family.event_shape)
  if shape != (libi_sets.LATENT_DIM,) or family.embedding() is not None:
    raise ValueError(f"The LiBI networks of {dataset.name!r} decode z in R^{libi_sets.LATENT_DIM} "
                     f"as it is, as the true process does (Yacoby et al. (2020), appendix E); "
                     f"these latents have event shape {shape} or are embedded for the decoder: "
                     f"use --latent_type=gaussian --latent_dim={libi_sets.LATENT_DIM}.")


def latent_family(config):
  """The `tfvae.latents` family of `config`: latent_type, latent_dim, num_categories, kappa, iaf.

  A method with latents of its own kind (VQ-VAE) builds its family itself and
  passes it to `model_arguments`.
  """
  config = config.resolved()
  return latents.make(config.latent_type, config.latent_dim,
                      num_categories=config.num_categories, embed_dim=config.embed_dim,
                      kappa=config.kappa, iaf_steps=config.iaf_steps,
                      iaf_width=config.iaf_width)


def model_arguments(config, dataset, family=None):
  """The arguments every VAE-like model of `config` takes, as keywords.

  encoder and decoder (`build_networks`), latent_dim (the latent `family`,
  by default `latent_family(config)`), prior (the `--prior` layer), seed,
  grad_clip_norm and the model's name.
  """
  config = config.resolved()
  family = family or latent_family(config)
  encoder, decoder = build_networks(config, dataset, family)
  return dict(encoder=encoder, decoder=decoder, latent_dim=family,
              prior=make_prior(config, dataset, family), seed=config.seed,
              grad_clip_norm=config.grad_clip_norm, name="vae")


def make_prior(config, dataset, family):
  """The `--prior` layer of `config` for `family` (`tfvae.latents.make_prior`).

  A VampPrior's pseudo-inputs take the shape of the encoder's continuous
  input: --pseudo_input_length embedding vectors for text, one embedding
  vector for symbols, an image (initially grey, 0.5) for images, a vector
  (initially 0) for vectors.
  """
  config = config.resolved()
  if dataset.kind == "text":
    shape, mean = (config.pseudo_input_length, config.embed_dim), 0.0
  elif config.network == "symbol":
    shape, mean = (config.embed_dim,), 0.0
  else:
    shape = tuple(dataset.event_shape)
    mean = 0.0 if dataset.kind == "vectors" else 0.5
  return latents.make_prior(config.prior, family, config.prior_components,
                            flow_couplings=config.flow_couplings,
                            flow_hidden=config.flow_hidden, pseudo_input_shape=shape,
                            pseudo_input_mean=mean)
