"""Lightning Attention-2 ops (arXiv 2401.04658): ``lightning_attn`` (prefill/training) and
``lightning_attn_step`` (decode), with naive, chunked-PyTorch and Triton backends, and ``slopes``."""

from litlab.attention.ops.api import lightning_attn, lightning_attn_step
from litlab.attention.ops.slopes import alibi_slopes, slopes

__all__ = ["alibi_slopes", "lightning_attn", "lightning_attn_step", "slopes"]
