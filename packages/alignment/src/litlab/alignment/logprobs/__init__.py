"""Memory-lean per-token log-probs of the labels from hidden states and the LM head."""

from .api import chunked_token_logps, fused_token_loss
from .chunked import ChunkedLogProbFunction
from .fused import FusedLinearTokenLoss
from .head import HeadTransform
from .naive import naive_token_logps

__all__ = [
    "ChunkedLogProbFunction",
    "FusedLinearTokenLoss",
    "HeadTransform",
    "chunked_token_logps",
    "fused_token_loss",
    "naive_token_logps",
]
