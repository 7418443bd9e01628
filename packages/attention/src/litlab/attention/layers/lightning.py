"""Lightning attention layer in the MiniMax-01 form (arXiv 2501.08313, Sec. 2.1 and Fig. 3).

    q, k, v = SiLU(W_qkv x)                           SiLU on q, k and v; no RoPE, no 1/sqrt(d)
    o       = lightning_attn(q, k, v, s_l, scale=1)   S_t = exp(-s) S_{t-1} + k_t^T v_t,  o_t = q_t S_t
    o       = RMSNorm(concat_heads(o))                one norm over all H*d channels
    y       = W_out(sigmoid(W_gate x) * o)            output gate computed from the layer input

The linear attention itself is Lightning Attention-2 (arXiv 2401.04658, Eq. 2 and Algorithm 1) with
per-head decay slopes s_{h,l} ("minimax" by default, "alibi", "tnl_paper", or "none").
The bare op is NOT a drop-in replacement for softmax attention: the norm and the gate after it are
what make it train (OpenNLPLab/lightning-attention#25), so this layer always has both.

Speed (same math): W_qkv and W_gate are applied as ONE matmul of the concatenated weights (they read the
same x), and q, k, v leave that step contiguous, so the kernel needs no copies. The attention op is opaque
to `torch.compile` (Triton kernels with their own autograd), so a compiled block fuses the token-wise
work around it (SiLU and the head split before, norm, gate and residual after; see `Backbone.compile_blocks`).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from litlab.attention.layers.norm import RMSNorm
from litlab.attention.layers.prefix import linear_prefix_outputs
from litlab.attention.ops import lightning_attn, lightning_attn_step
from litlab.attention.ops import slopes as decay_slopes


@torch.compiler.disable  # graph break for torch.compile: the op runs its own Triton kernels / autograd.Function
def _attn(layer: LightningAttention, q: Tensor, k: Tensor, v: Tensor, **kwargs) -> tuple[Tensor, Tensor | None]:
    # the slopes are read here, outside any compiled graph, so a fixed buffer reaches the op as the same
    # tensor on every call and its values are checked once (a check reads them back: a device sync)
    return lightning_attn(q, k, v, layer.decay(), scale=1.0, **kwargs)


DecayKind = Literal["minimax", "alibi", "tnl_paper", "none"]


class LightningAttention(nn.Module):
    """Gated, normalised linear attention with per-head exponential decay: [B, T, C] -> [B, T, C].

    Args:
        dim: model width C.
        num_heads: heads H.
        head_dim: channels per head d (keys and values).
        layer_idx: global index l of this layer in the stack (the decay depends on it).
        num_layers: layers L of the whole stack (softmax layers count too).
        decay: slope formula "minimax", "alibi", "tnl_paper", or "none" (no decay).
        learnable_decay: train the slopes (initialised by the formula, kept >= 0).
        norm_eps: epsilon of the RMSNorm after the attention.
    """

    sp_group = None  # a process group splitting T in `forward` (sequence parallelism, lm/seqpar.py); None: off

    def __init__(
        self,
        dim: int,
        num_heads: int,
        head_dim: int,
        layer_idx: int = 0,
        num_layers: int = 1,
        decay: DecayKind = "minimax",
        learnable_decay: bool = False,
        norm_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if decay not in ("minimax", "alibi", "tnl_paper", "none"):
            raise ValueError(f"decay must be 'minimax', 'alibi', 'tnl_paper' or 'none', got {decay!r}")
        if learnable_decay and decay == "none":
            raise ValueError("learnable_decay=True needs a decay formula to start from, got decay='none'")
        self.num_heads, self.head_dim = num_heads, head_dim
        self.inner = inner = num_heads * head_dim
        self.qkv_proj = nn.Linear(dim, 3 * inner, bias=False)
        self.gate_proj = nn.Linear(dim, inner, bias=False)
        self.out_proj = nn.Linear(inner, dim, bias=False)
        self.norm = RMSNorm(inner, eps=norm_eps)
        s = None if decay == "none" else decay_slopes(num_heads, layer_idx, num_layers, kind=decay)
        if learnable_decay:
            self.slopes = nn.Parameter(s)
        else:  # a buffer saved with checkpoints, so training and serving use the same decay
            self.register_buffer("slopes", s)

    def decay(self) -> Tensor | None:
        """Current slopes s >= 0 [H] in fp32, or None without decay.

        Learnable slopes are clamped at 0 (a new tensor each call, so the op checks them on each call, one
        device sync per layer). Fixed slopes come from the formula (>= 0) and are returned as one tensor for
        as long as the buffer is unchanged, so the op's check of their values runs once.
        """
        s = self.slopes
        if s is None:
            return None
        if isinstance(s, nn.Parameter):
            return s.float().clamp(min=0.0)
        if s.dtype == torch.float32:
            return s
        key = (s._version, s.data_ptr(), s.dtype, s.device)  # e.g. after model.to(torch.bfloat16)
        if getattr(self, "_decay_fp32", (None,))[0] != key:
            self._decay_fp32 = (key, s.float())
        return self._decay_fp32[1]

    def _qkv(self, x: Tensor, join: bool = True) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """x [.., C] -> contiguous q, k, v [.., H, d] (after SiLU) and the gate pre-activation [.., H*d].

        join: one matmul on the concatenated W_qkv and W_gate (sequences); a decode step multiplies them
        separately, since joining copies the weights and for one token that copy costs more than the matmuls.
        """
        if join:
            w = torch.cat([self.qkv_proj.weight, self.gate_proj.weight])
            qkv, gate = F.linear(x, w).split([3 * self.inner, self.inner], dim=-1)
        else:
            qkv, gate = F.linear(x, self.qkv_proj.weight), F.linear(x, self.gate_proj.weight)
        qkv = F.silu(qkv).unflatten(-1, (3, self.num_heads, self.head_dim))  # (.., 3, H, d)
        q, k, v = (qkv.select(-3, i).contiguous() for i in range(3))
        return q, k, v, gate

    def _output(self, o: Tensor, gate: Tensor) -> Tensor:
        o = self.norm(o.flatten(-2))  # (.., H*d)
        return self.out_proj(torch.sigmoid(gate) * o)

    def forward(self, x: Tensor, prefix_len: Tensor | None = None) -> Tensor:
        """Causal attention over x [B, T, C] from a zero state. With prefix_len [B], the first prefix_len[b]
        rows read the state after the whole prefix (layers/prefix.py: a non-causal pass seeding the causal part)."""
        q, k, v, gate = self._qkv(x)  # (B, T, H, d)
        if prefix_len is not None and self.sp_group is not None:
            raise ValueError("LightningAttention: prefix_len is not supported with a sequence split (sp_group)")
        o, _ = _attn(self, q, k, v, sp_group=self.sp_group)
        if prefix_len is not None:
            o = linear_prefix_outputs(o, q, k, v, self.decay(), prefix_len)
        return self._output(o, gate)

    def init_state(self, batch: int) -> Tensor:
        """Zero recurrent state [B, H, d, d] in fp32 (float64 for a float64 layer, as the op expects)."""
        w = self.qkv_proj.weight
        dtype = torch.float64 if w.dtype == torch.float64 else torch.float32
        return torch.zeros(batch, self.num_heads, self.head_dim, self.head_dim, device=w.device, dtype=dtype)

    def prefill(self, x: Tensor, state: Tensor, prefix_len: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Process x [B, T, C] continuing from state [B, H, d, d]; returns (y, new state). prefix_len [B]:
        a bidirectional prefix (from a zero state; the Backbone checks that)."""
        q, k, v, gate = self._qkv(x)
        o, state = _attn(self, q, k, v, initial_state=state, output_final_state=True)
        if prefix_len is not None:
            o = linear_prefix_outputs(o, q, k, v, self.decay(), prefix_len)
        return self._output(o, gate), state

    def step(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """Decode one token x_t [B, C] in O(1): returns (y_t [B, C], new state)."""
        q, k, v, gate = self._qkv(x_t, join=False)  # (B, H, d)
        o, state = lightning_attn_step(q, k, v, state, self.decay(), scale=1.0)
        return self._output(o, gate), state
