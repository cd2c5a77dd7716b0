"""Shared Chainer links and networks."""
import ganlib.compat  # noqa: F401  (must precede chainer)

from models.minibatch_discrimination import MinibatchDiscrimination  # noqa: F401
from models.mlp import MLPDiscriminator, MLPGenerator  # noqa: F401
from models.ssl_mnist import PaperSSLDiscriminator, PaperSSLGenerator, SSLDiscriminator, SSLGenerator  # noqa: F401,E501
from models.weight_norm import WeightNormLinear  # noqa: F401
from models.autoencoder import MLPAutoencoder  # noqa: F401
from models.self_attention import SelfAttention  # noqa: F401
