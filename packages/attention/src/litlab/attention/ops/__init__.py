"""Lightning Attention-2 ops (arXiv 2401.04658): ``lightning_attn`` (prefill/training) and
``lightning_attn_step`` (decode), with naive, chunked-PyTorch and Triton backends, and ``slopes``.

Per sequence and head: S_t = lambda S_{t-1} + k_t^T v_t, o_t = scale q_t S_t, lambda = exp(-s). Where to read:

    api.lightning_attn                 checks, dispatch: naive.py (O(T^2) reference), chunk_torch.py (CPU path)
      -> chunk_triton.triton_lightning_attn / LightningAttnFunction        (CUDA: one piece of the heads at a time)
           -> triton_phases.chunk_fwd:  fwd_local_states (triton_seg), fwd_o (triton_fwd)
           -> triton_phases.chunk_bwd:  bwd_local_grads (triton_seg), bwd_dq, bwd_dkv (triton_bwd), bwd_ddecay
    api.lightning_attn_step            recurrent.py / recurrent_triton.py (decode)

``triton_plan`` cuts sequences into segments for the GPU, ``triton_config.KernelConfig`` (frozen, one per
architecture) holds tile widths and launch options; the math and memory traffic of each phase are in its
kernel's docstring.
"""

from litlab.attention.ops.api import lightning_attn, lightning_attn_step
from litlab.attention.ops.slopes import alibi_slopes, slopes

__all__ = ["alibi_slopes", "lightning_attn", "lightning_attn_step", "slopes"]
