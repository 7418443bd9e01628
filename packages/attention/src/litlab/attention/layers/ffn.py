"""Feed-forward layers: SwiGLU and a token-choice top-k mixture of SwiGLU experts.

SwiGLU (Shazeer, arXiv 2002.05202, Eq. 6): FFN(x) = W_down(SiLU(W_gate x) * W_up x).

MoE (Switch Transformer arXiv 2101.03961 Eq. 4-6; Mixtral arXiv 2401.04088 Eq. 1-2; MiniMax-01
arXiv 2501.08313 Sec. 2.2): router probabilities p = softmax(W_r x) in fp32, the top-k experts per token
with weights renormalised to sum to 1, dropless (no capacity factor), and the load-balancing loss
    aux = E * sum_e f_e * P_e,
f_e = fraction of the N*k routing slots sent to expert e, P_e = mean router probability of e. It is
1 for a perfectly uniform router and E at worst. Experts run as one batched matmul per projection:
slots are sorted by expert into a zero-padded [E, capacity, C] buffer (capacity = the largest load of
the step), so there is no Python loop over tokens or experts.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def default_hidden(dim: int, multiple: int = 64) -> int:
    """8/3 * dim rounded up to a multiple (the parameter count of a 4*dim GELU MLP)."""
    return multiple * math.ceil(8 * dim / 3 / multiple)


class SwiGLU(nn.Module):
    """Gated feed-forward [.., C] -> [.., C].

    Args:
        dim: model width C.
        hidden: inner width; None means 8/3 * dim rounded up to a multiple of 64.
    """

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = default_hidden(dim) if hidden is None else hidden
        if hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {hidden}")
        self.gate_up = nn.Linear(dim, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class MoE(nn.Module):
    """Top-k mixture of SwiGLU experts [.., C] -> [.., C].

    After each forward, `aux_loss` holds the load-balancing loss (a differentiable scalar) and
    `expert_load` the detached fraction of routing slots per expert [E].

    Args:
        dim: model width C.
        hidden: inner width of each expert; None means 8/3 * dim rounded up to a multiple of 64.
        num_experts: experts E.
        top_k: experts per token k (1 <= k <= E).
    """

    def __init__(self, dim: int, hidden: int | None = None, num_experts: int = 8, top_k: int = 2) -> None:
        super().__init__()
        hidden = default_hidden(dim) if hidden is None else hidden
        if num_experts < 1:
            raise ValueError(f"num_experts must be >= 1, got {num_experts}")
        if not 1 <= top_k <= num_experts:
            raise ValueError(f"top_k must be in [1, num_experts={num_experts}], got {top_k}")
        self.num_experts, self.top_k = num_experts, top_k
        self.router = nn.Linear(dim, num_experts, bias=False)
        bound_in, bound_h = 1 / math.sqrt(dim), 1 / math.sqrt(hidden)
        self.w_gate = nn.Parameter(torch.empty(num_experts, dim, hidden).uniform_(-bound_in, bound_in))
        self.w_up = nn.Parameter(torch.empty(num_experts, dim, hidden).uniform_(-bound_in, bound_in))
        self.w_down = nn.Parameter(torch.empty(num_experts, hidden, dim).uniform_(-bound_h, bound_h))
        self.aux_loss: Tensor = torch.zeros(())
        self.expert_load: Tensor = torch.zeros(num_experts)

    def route(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x [N, C] -> (weights [N, k] summing to 1, experts [N, k], router probabilities [N, E] fp32)."""
        logits = self.router(x)
        probs = torch.softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)
        weights, experts = probs.topk(self.top_k, dim=-1)
        return weights / weights.sum(-1, keepdim=True), experts, probs

    def load_balancing_loss(self, experts: Tensor, probs: Tensor) -> tuple[Tensor, Tensor]:
        """(E * sum_e f_e P_e, f) for experts [N, k] and probabilities [N, E]."""
        slots = torch.bincount(experts.flatten(), minlength=self.num_experts).to(probs.dtype)
        f = slots / experts.numel()
        return self.num_experts * (f * probs.mean(0)).sum(), f

    def experts_forward(self, buf: Tensor) -> Tensor:
        """All experts on their padded token buffers [E, capacity, C] -> [E, capacity, C]."""
        h = F.silu(torch.bmm(buf, self.w_gate.to(buf.dtype))) * torch.bmm(buf, self.w_up.to(buf.dtype))
        return torch.bmm(h, self.w_down.to(buf.dtype))

    @torch.compiler.disable  # data-dependent capacity: a graph break, run eagerly inside compiled blocks
    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])  # (N, C)
        weights, experts, probs = self.route(x)
        self.aux_loss, load = self.load_balancing_loss(experts, probs)
        self.expert_load = load.detach()
        if torch.is_autocast_enabled(x.device.type):
            x = x.to(torch.get_autocast_dtype(x.device.type))
        flat = experts.flatten()  # (N*k,) slot -> expert
        order = flat.argsort(stable=True)
        counts = torch.bincount(flat, minlength=self.num_experts)
        sorted_e = flat[order]
        rank = torch.arange(flat.numel(), device=x.device) - (counts.cumsum(0) - counts)[sorted_e]
        token = order // self.top_k
        buf = x.new_zeros(self.num_experts, int(counts.max()), x.shape[-1])
        buf[sorted_e, rank] = x[token]
        out = self.experts_forward(buf)[sorted_e, rank]  # (N*k, C) in slot order
        out = out * weights.flatten()[order, None].to(out.dtype)
        y = out.new_zeros(x.shape).index_add_(0, token, out)
        return y.reshape(shape)
