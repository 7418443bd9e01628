"""litlab.attention: Lightning Attention-2 (arXiv 2401.04658) kernels, lightning / softmax / hybrid-MoE
language models (MiniMax-01, arXiv 2501.08313), Scalable-Softmax (arXiv 2501.19399) and text data.

Public names: the ops `lightning_attn`, `lightning_attn_step`, `slopes`; the layers `LightningAttention`,
`SoftmaxAttention`, `SwiGLU`, `MoE`; the sequence model `Backbone` with `BackboneConfig`; `CausalLM`; the
Lightning `LanguageModel` and `TextDataModule`.

The names are resolved lazily (PEP 562 module ``__getattr__``): ``import litlab.attention.ops`` or
``from litlab.attention import Backbone`` loads only what that name needs, not the language-model and data
stack (datasets, tokenizers) that ``LanguageModel`` and ``TextDataModule`` bring.
"""

from __future__ import annotations

from litlab.shared.lazy import lazy_exports

# public name -> the submodule that defines it
_EXPORTS: dict[str, str] = {
    "Backbone": "litlab.attention.models",
    "BackboneConfig": "litlab.attention.models",
    "BackboneState": "litlab.attention.models",
    "CausalLM": "litlab.attention.models",
    "LanguageModel": "litlab.attention.lm.module",
    "LightningAttention": "litlab.attention.layers",
    "MoE": "litlab.attention.layers",
    "SoftmaxAttention": "litlab.attention.layers",
    "SwiGLU": "litlab.attention.layers",
    "TextDataModule": "litlab.attention.data.text",
    "lightning_attn": "litlab.attention.ops",
    "lightning_attn_step": "litlab.attention.ops",
    "slopes": "litlab.attention.ops",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
