"""The PyTorch side of ``rl_fql_race.py``: litlab's FQL update (arXiv 2502.02538) in five forms.

Modes, in the order they run: ``eager`` (``train_step``), ``cuda_graph`` (``CUDAGraphStep``),
``cuda_graph+tf32`` (the same with TF32 matrix products, the precision JAX uses by default for float32 on
this GPU), ``compile`` (``CompiledStep``: torch.compile, inductor, default mode), ``compile+cuda_graph``
(the compiled step captured by ``CUDAGraphStep``; it continues the ``compile`` row's agent so it does not
compile again) and ``compile_reduce_overhead`` (inductor's own CUDA graphs).
"""

from __future__ import annotations

import json
import time
import traceback

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from litlab.rl.fql import FQLAgent, train_step
from litlab.rl.fql.graph import CompiledStep, CUDAGraphStep

MODES = ("eager", "cuda_graph", "cuda_graph+tf32", "compile", "compile+cuda_graph", "compile_reduce_overhead")
NAMES = {"critic": "critic", "target_critic": "target_critic", "actor_bc_flow": "flow", "actor_onestep_flow": "onestep"}
aten = torch.ops.aten
MATMULS = {aten.mm.default: 0, aten.bmm.default: 0, aten.addmm.default: 1, aten.baddbmm.default: 1}


class MatmulCounter(TorchDispatchMode):
    """Records (lhs shape, FLOPs) of every matrix product dispatched inside the ``with`` block."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[tuple[int, ...], int]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in MATMULS:
            lhs = args[MATMULS[func]]
            self.found.append((tuple(lhs.shape), 2 * out.numel() * lhs.shape[-1]))
        return out


def make_agent(args, device: str | torch.device) -> FQLAgent:
    torch.manual_seed(0)
    return FQLAgent(args.obs, args.act, args.hidden, flow_steps=args.flow_steps).to(device)


def adam(agent: FQLAgent, capturable: bool) -> torch.optim.Adam:
    return torch.optim.Adam([p for p in agent.parameters() if p.requires_grad], lr=3e-4, capturable=capturable)


def count_torch(args) -> dict:
    """Matrix products of one ``train_step`` (forward + backward), on CPU tensors, and parameter counts."""
    agent = make_agent(args, "cpu")
    g = torch.Generator().manual_seed(0)
    b = args.batch
    batch = {
        "observations": torch.randn(b, args.obs, generator=g),
        "actions": torch.rand(b, args.act, generator=g) * 2 - 1,
        "rewards": torch.zeros(b),
        "masks": torch.ones(b),
        "next_observations": torch.randn(b, args.obs, generator=g),
    }
    with MatmulCounter() as counter:
        train_step(agent, adam(agent, False), batch)
    params = {k: sum(p.numel() for p in getattr(agent, v).parameters()) for k, v in NAMES.items()}
    return {"matmuls": len(counter.found), "matmul_gflop": sum(f for _, f in counter.found) / 1e9, "params": params}


def build_step(mode: str, args, sample, shared: dict):
    """The zero-argument step of ``mode`` (samples its own batch)."""
    base = mode.removesuffix("+tf32")
    torch.backends.cuda.matmul.allow_tf32 = mode.endswith("+tf32")
    if base == "compile+cuda_graph" and "compiled" in shared:
        agent, opt, fn = shared["compiled"]
    else:
        agent = make_agent(args, args.device)
        opt = adam(agent, capturable=base != "eager")
    if base == "eager":
        return lambda: train_step(agent, opt, sample())
    if base == "cuda_graph":
        graph = CUDAGraphStep(agent, opt, sample())
        return lambda: graph(sample())
    if base in ("compile", "compile_reduce_overhead"):
        fn = CompiledStep("default" if base == "compile" else "reduce-overhead")
        if base == "compile":
            shared["compiled"] = (agent, opt, fn)
        return lambda: fn(agent, opt, sample())
    if base == "compile+cuda_graph":
        if "compiled" not in shared:
            fn = CompiledStep("default")
        graph = CUDAGraphStep(agent, opt, sample(), warmup=5, step_fn=fn)
        return lambda: graph(sample())
    raise ValueError(f"unknown mode {mode!r}; known: {MODES}")


def measure(mode: str, args, sample, shared: dict, timed) -> dict:
    holder: dict = {}
    t0 = time.perf_counter()
    step = build_step(mode, args, sample, shared)

    def run():
        holder["info"] = step()

    sync = torch.cuda.synchronize if args.device == "cuda" else lambda: None
    run()
    sync()
    first = time.perf_counter() - t0
    steps = args.steps if "graph" in mode or "compile" in mode else max(1, args.steps // 4)
    res = timed(run, sync, args.warmup, steps, args.repeats)
    finite = all(bool(torch.isfinite(v).all()) for v in holder["info"].values())
    return {"mode": mode, "first_call_s": first, "finite_losses": finite, "window_steps": steps, **res}


def run_torch(args, data_np: dict[str, np.ndarray], timed) -> None:
    work = count_torch(args)
    print("work", json.dumps(work), flush=True)
    if args.count_only:
        return
    dev = torch.device(args.device)
    data = {k: torch.from_numpy(v).to(dev) for k, v in data_np.items()}

    def sample() -> dict[str, torch.Tensor]:
        idx = torch.randint(args.dataset, (args.batch,), device=dev)
        return {k: v[idx] for k, v in data.items()}

    env = {
        "gpu": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "triton": getattr(__import__("triton"), "__version__", None),
    }
    rows, shared, start = [], {}, time.monotonic()
    result = {"framework": "torch", "env": env, "rows": rows, "work": work, "args": vars(args)}
    for mode in args.modes or MODES:
        if time.monotonic() - start > args.budget_s:
            rows.append({"mode": mode, "skipped": "time budget"})
        else:
            try:
                rows.append(measure(mode, args, sample, shared, timed))
            except Exception as e:  # noqa: BLE001 (recorded in the results; the other modes still run)
                traceback.print_exc()
                rows.append({"mode": mode, "error": f"{type(e).__name__}: {e}"[:800]})
        torch.backends.cuda.matmul.allow_tf32 = False
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "rates"}), flush=True)
        if args.out:
            json.dump(result, open(args.out, "w"), indent=1)
