"""The models (one `LatentVariableModel` base, its subclasses) and the parts a config builds."""

from tfvae import latents
from tfvae import nets
from tfvae.data import catalog
from tfvae.models.aggressive import AggressivePhaseEnd
from tfvae.models.aggressive import AggressiveVAE
from tfvae.models.base import LatentVariableModel
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
           "LatentVariableModel", "MAE",
           "MonteCarloVAE", "OptimizerGroup", "SAVAE", "VAE", "VQVAE", "build_networks",
           "latent_family", "make_prior", "model_arguments"]


def build_networks(config, dataset, family=None):
  """Encoder and decoder for `dataset` (a tfvae.data.DataSet), `config` and the latent `family`.

  Text data sets take LSTM networks (He et al. 2019, or the "bilstm" of Melis et
  al. (2022): bidirectional encoder, z added to the decoder's inputs); image data
  sets take the MLP or the convolutional networks; symbol data sets (D2) the
  dense networks of Melis et al. (2022), whose decoder has one hidden layer for
  categorical latents.
  `family` defaults to `latent_family(config)`.
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
  vector for symbols, an image (initially grey, 0.5) for images.
  """
  config = config.resolved()
  if dataset.kind == "text":
    shape, mean = (config.pseudo_input_length, config.embed_dim), 0.0
  elif config.network == "symbol":
    shape, mean = (config.embed_dim,), 0.0
  else:
    shape, mean = tuple(dataset.event_shape), 0.5
  return latents.make_prior(config.prior, family, config.prior_components,
                            flow_couplings=config.flow_couplings,
                            flow_hidden=config.flow_hidden, pseudo_input_shape=shape,
                            pseudo_input_mean=mean)
