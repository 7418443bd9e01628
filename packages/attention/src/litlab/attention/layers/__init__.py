"""Attention and feed-forward layers of litlab.attention."""

from litlab.attention.layers.ffn import MoE, SwiGLU
from litlab.attention.layers.kv_cache import KVCache
from litlab.attention.layers.lightning import LightningAttention
from litlab.attention.layers.rope import RotaryEmbedding
from litlab.attention.layers.softmax import SoftmaxAttention
from litlab.attention.layers.ssmax import SSMax, ssmax_init_scale

__all__ = [
    "KVCache",
    "LightningAttention",
    "MoE",
    "RotaryEmbedding",
    "SSMax",
    "SoftmaxAttention",
    "SwiGLU",
    "ssmax_init_scale",
]
