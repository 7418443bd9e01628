"""Training steps/s of litlab's Flow Q-Learning update (arXiv 2502.02538) on one GPU, no Lightning.

    PYTHONPATH=packages/rl/src python benchmarks/rl/rl_fql_speed.py --out results.json

Times ``litlab.rl.fql.train_step`` (critic + flow BC + distillation + policy losses, one Adam step over all
modules, Polyak target update) eagerly and replayed as one CUDA graph (``CUDAGraphStep``), for the
reference size (4x512 MLPs, 2 critics + targets, batch 256) and the spec's other anchor rows (2x256,
batch 2048). Each timed step includes sampling the batch from a GPU-resident 1M-transition dataset.
Reported: the median over ``--repeats`` windows of ``--steps`` steps, after warm-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from litlab.rl.fql import FQLAgent, train_step
from litlab.rl.fql.graph import CUDAGraphStep

OBS_DIM, ACTION_DIM, DATASET = 29, 8, 1_000_000  # antmaze-like sizes, as the reference benchmark


def make_dataset(device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator(device=device).manual_seed(0)
    return {
        "observations": torch.randn(DATASET, OBS_DIM, device=device, generator=g),
        "actions": torch.rand(DATASET, ACTION_DIM, device=device, generator=g) * 2 - 1,
        "rewards": torch.randn(DATASET, device=device, generator=g),
        "masks": torch.ones(DATASET, device=device),
        "next_observations": torch.randn(DATASET, OBS_DIM, device=device, generator=g),
    }


def sample(data: dict[str, torch.Tensor], batch: int) -> dict[str, torch.Tensor]:
    idx = torch.randint(DATASET, (batch,), device=data["rewards"].device)
    return {k: v[idx] for k, v in data.items()}


def measure(hidden: list[int], batch: int, mode: str, data, steps: int, repeats: int) -> dict:
    torch.manual_seed(0)
    agent = FQLAgent(OBS_DIM, ACTION_DIM, hidden).cuda()
    params = [p for p in agent.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=3e-4, capturable=(mode == "cuda_graph"))
    if mode == "cuda_graph":
        step = CUDAGraphStep(agent, opt, sample(data, batch))
    else:
        step = lambda b: train_step(agent, opt, b)  # noqa: E731
    for _ in range(20):
        info = step(sample(data, batch))
    torch.cuda.synchronize()
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            info = step(sample(data, batch))
        torch.cuda.synchronize()
        rates.append(steps / (time.perf_counter() - t0))
    loss_ok = all(torch.isfinite(v).item() for v in info.values())
    return {
        "hidden": "x".join(map(str, hidden)),
        "batch": batch,
        "mode": mode,
        "steps_per_s": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "finite_losses": loss_ok,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=200, help="steps per timed window")
    p.add_argument("--repeats", type=int, default=7, help="timed windows; the median is reported")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("rl_fql_speed.py needs a CUDA GPU")
    data = make_dataset(torch.device("cuda"))
    configs = [([512] * 4, 256), ([256] * 2, 256), ([512] * 4, 2048)]
    rows = [measure(h, b, m, data, args.steps, args.repeats) for h, b in configs for m in ("eager", "cuda_graph")]
    env = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "cuda": torch.version.cuda}
    print(json.dumps(env))
    print(f"{'MLP':>8} {'batch':>6} {'mode':>11} {'steps/s':>9} {'min':>8} {'max':>8}")
    for r in rows:
        print(
            f"{r['hidden']:>8} {r['batch']:>6} {r['mode']:>11} {r['steps_per_s']:9.1f} {r['min']:8.1f} {r['max']:8.1f}"
        )
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"env": env, "rows": rows, "steps": args.steps, "repeats": args.repeats}, f, indent=2)


if __name__ == "__main__":
    main()
