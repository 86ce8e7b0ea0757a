"""Keras layers: encoders give posterior parameters, decoders give p(x|z).

Encoders map a batch x to the latent family's posterior parameters through
their last layer, `PosteriorParams`: `(loc, log_variance)`, each [B, d], for
Gaussian latents, logits [B, n, C] for categorical ones. Decoders offer
`likelihood(z, x, training)` returning a TFP distribution over x whose
`log_prob(x)` has shape z.shape[:-1]: z may carry leading sample dimensions
[K, B, d]. Under a mixed-precision policy distributions and losses stay in
float32: the encoders' posterior-parameter layers and the image decoders' output
layers run in float32, the LiBI decoders (`nets.libi`) entirely; the text
decoder's vocabulary-sized output layer, its largest matmul, runs in the
compute dtype and its logits are cast to float32.
"""

from tfvae.nets.conv import ConvDecoder
from tfvae.nets.conv import ConvEncoder
from tfvae.nets.critic import Critic
from tfvae.nets.dense import MLPDecoder
from tfvae.nets.dense import MLPEncoder
from tfvae.nets.libi import LiBIEncoder
from tfvae.nets.libi import libi_decoder
from tfvae.nets.posterior_head import PosteriorParams
from tfvae.nets.symbols import SymbolDecoder
from tfvae.nets.symbols import SymbolEncoder
from tfvae.nets.text import BiLSTMEncoder
from tfvae.nets.text import LSTMDecoder
from tfvae.nets.text import LSTMEncoder

__all__ = [
    "BiLSTMEncoder",
    "ConvDecoder",
    "ConvEncoder",
    "Critic",
    "LSTMDecoder",
    "LSTMEncoder",
    "LiBIEncoder",
    "MLPDecoder",
    "MLPEncoder",
    "PosteriorParams",
    "SymbolDecoder",
    "SymbolEncoder",
    "libi_decoder",
]
