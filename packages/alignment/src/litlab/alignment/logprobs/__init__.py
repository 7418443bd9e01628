"""Memory-lean per-token log-probs of the labels from hidden states and the LM head (spec §3)."""

from .api import chunked_token_logps
from .chunked import ChunkedLogProbFunction
from .head import HeadTransform
from .naive import naive_token_logps

__all__ = ["ChunkedLogProbFunction", "HeadTransform", "chunked_token_logps", "naive_token_logps"]
