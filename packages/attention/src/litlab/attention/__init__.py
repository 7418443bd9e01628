"""litlab.attention: Lightning Attention-2 (arXiv 2401.04658) kernels, lightning / softmax / hybrid-MoE
language models (MiniMax-01, arXiv 2501.08313), Scalable-Softmax (arXiv 2501.19399) and text data.

Public names: the ops `lightning_attn`, `lightning_attn_step`, `slopes`; the layers `LightningAttention`,
`SoftmaxAttention`, `SwiGLU`, `MoE`; the sequence model `Backbone` (reused by the RL and robotics
packages) with `BackboneConfig`; `CausalLM`; the Lightning `LanguageModel` and `TextDataModule`.
"""

from litlab.attention.data.text import TextDataModule
from litlab.attention.layers import LightningAttention, MoE, SoftmaxAttention, SwiGLU
from litlab.attention.lm.module import LanguageModel
from litlab.attention.models import Backbone, BackboneConfig, BackboneState, CausalLM
from litlab.attention.ops import lightning_attn, lightning_attn_step, slopes

__all__ = [
    "Backbone",
    "BackboneConfig",
    "BackboneState",
    "CausalLM",
    "LanguageModel",
    "LightningAttention",
    "MoE",
    "SoftmaxAttention",
    "SwiGLU",
    "TextDataModule",
    "lightning_attn",
    "lightning_attn_step",
    "slopes",
]
