"""Run the offline RL experiments of packages/rl/README.md through the real `litlab fit` entry point.

    python benchmarks/rl/rl_offline_runs.py main [--shard 0 --num-shards 2]
    python benchmarks/rl/rl_offline_runs.py flow_steps
    python benchmarks/rl/rl_offline_runs.py alpha
    python benchmarks/rl/rl_offline_runs.py beta     # ReBRAC's actor penalty

Each run is one `litlab fit` call (``litlab.shared.cli.main``, in this process, 1 CPU thread) with a
recipe from configs/rl/, the CPU-scale overrides below, and an OfflineEvalCallback; its eval.csv lands in
runs/rl-<experiment>/<run>/version_0. ``--print`` shows the equivalent shell commands. Runs whose
eval.csv exists are skipped, so an interrupted sweep resumes; ``--shard i --num-shards n`` splits a sweep
over n processes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
TASKS = ["hopper-medium-v5", "halfcheetah-medium-v5", "walker2d-medium-v5"]
# the bc/iql/rebrac recipes are env-agnostic (the data path is overridden)
RECIPE = {"fql": "fql-{env}", "bc": "bc-hopper", "iql": "iql-hopper", "rebrac": "rebrac-hopper"}


def runs_for(experiment: str, args: argparse.Namespace) -> list[dict]:
    seeds = range(args.seeds)
    if experiment == "main":
        # seed-major: a sweep stopped early leaves whole seeds (every method x task), not whole methods
        grid = itertools.product(seeds, args.methods, args.tasks)
        return [{"method": m, "task": t, "seed": s, "overrides": []} for s, m, t in grid]
    if experiment == "flow_steps":
        grid = itertools.product(args.flow_steps, args.tasks, seeds)
        return [
            {"method": "fql", "task": t, "seed": s, "tag": f"K{k}", "overrides": [f"--model.init_args.flow_steps={k}"]}
            for k, t, s in grid
        ]
    if experiment == "alpha":
        grid = itertools.product(args.alphas, args.tasks, seeds)
        return [
            {"method": "fql", "task": t, "seed": s, "tag": f"alpha{a:g}", "overrides": [f"--model.init_args.alpha={a}"]}
            for a, t, s in grid
        ]
    if experiment == "beta":
        grid = itertools.product(args.betas, args.tasks, seeds)
        return [
            {
                "method": "rebrac",
                "task": t,
                "seed": s,
                "tag": f"beta{b:g}",
                "overrides": [f"--model.init_args.beta_actor={b}"],
            }
            for b, t, s in grid
        ]
    raise ValueError(f"unknown experiment {experiment!r}; expected main, flow_steps, alpha or beta")


def command(run: dict, args: argparse.Namespace, out: Path, name: str) -> list[str]:
    env = run["task"].split("-")[0]
    recipe = RECIPE[run["method"]].format(env=env)
    callback = {
        "class_path": "OfflineEvalCallback",
        "init_args": {"every_n_steps": args.eval_every, "num_episodes": args.episodes, "seed": 0},
    }
    return [
        "fit",
        "--config", "configs/trainer/cpu.yaml", "--config", f"configs/rl/{recipe}.yaml",
        "--data.init_args.path", f"data/rl/{run['task']}",
        f"--data.init_args.batch_size={args.batch}", f"--data.init_args.seed={run['seed']}",
        f"--model.init_args.hidden_dims={json.dumps(args.hidden)}", f"--trainer.max_steps={args.steps}",
        f"--seed_everything={run['seed']}", f"--trainer.callbacks=[{json.dumps(callback)}]",
        "--trainer.enable_progress_bar=false", "--trainer.enable_checkpointing=false",
        "--trainer.log_every_n_steps=250", "--trainer.default_root_dir", str(out), "--run_name", name,
        *run["overrides"],
    ]  # fmt: skip


def run_name(run: dict) -> str:
    return "_".join(str(x) for x in (run["method"], run.get("tag"), run["task"], f"s{run['seed']}") if x)


def execute(run: dict, args: argparse.Namespace, out: Path) -> str:
    from litlab.shared.cli import main as litlab

    name = run_name(run)
    if (out / name / "version_0" / "eval.csv").is_file():
        return f"skip {name}"
    if args.claim:  # several workers on one sweep: the first to create the claim file runs it
        out.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(out / f"{name}.claim", os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return f"claimed elsewhere {name}"
    t0 = time.time()
    try:
        litlab(command(run, args, out, name))
        status = "ok"
    except (SystemExit, Exception) as exc:  # keep the sweep going; the failure is printed
        status = f"FAILED: {exc!r}"
    return f"{name}: {status} ({time.time() - t0:.0f}s)"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("experiment", choices=["main", "flow_steps", "alpha", "beta"])
    p.add_argument("--tasks", nargs="+", default=TASKS)
    p.add_argument("--methods", nargs="+", default=["fql", "bc", "iql"], choices=list(RECIPE))
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--steps", type=int, default=3000, help="gradient steps per run")
    p.add_argument("--hidden", type=int, nargs="+", default=[128, 128], help="MLP widths (CPU scale)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--eval-every", type=int, default=1500)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--flow-steps", type=int, nargs="+", default=[1, 3, 10])
    p.add_argument("--alphas", type=float, nargs="+", default=[0.3, 1.0, 3.0, 10.0])
    p.add_argument("--betas", type=float, nargs="+", default=[0.01, 0.1, 1.0], help="ReBRAC beta_actor values")
    p.add_argument("--shard", type=int, default=0, help="run only runs i, i + n, i + 2n, ... (see --num-shards)")
    p.add_argument("--num-shards", type=int, default=1)
    p.add_argument("--claim", action="store_true", help="skip runs another worker has claimed (<out>/<run>.claim)")
    p.add_argument("--print", action="store_true", help="print the litlab commands instead of running them")
    p.add_argument("--out", default=None, help="output folder (default runs/rl-<experiment>)")
    args = p.parse_args()
    os.chdir(ROOT)  # the commands use repository-relative paths
    out = Path(args.out) if args.out else Path("runs") / f"rl-{args.experiment}"
    runs = runs_for(args.experiment, args)[args.shard :: args.num_shards]
    if args.print:
        for r in runs:
            print("litlab " + " ".join(shlex.quote(c) for c in command(r, args, out, run_name(r))))
        return
    torch.set_num_threads(1)
    sys.argv = sys.argv[:1]  # the litlab calls below get their own argument lists
    print(f"{len(runs)} runs -> {out}", flush=True)
    for r in runs:
        print(execute(r, args, out), flush=True)


if __name__ == "__main__":
    main()
