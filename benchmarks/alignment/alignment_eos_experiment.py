"""The EOS-collapse experiment: DPO, SimPO, SMPO original and SMPO modified from one SFT start.

Each arm runs its recipe (configs/alignment/<arm>.yaml) through `litlab fit` from the same SFT checkpoint,
with the same data, steps and LR schedule, for several seeds (data order), on one CPU thread each:

    litlab fit --config configs/trainer/cpu.yaml --config configs/alignment/sft.yaml \
        --trainer.default_root_dir runs/alignment-exp
    python benchmarks/alignment/alignment_eos_experiment.py \
        --sft runs/alignment-exp/sft/version_0/checkpoints/last.ckpt \
        --condition stress --seeds 0 1 2 --parallel 2
    python benchmarks/alignment/alignment_eos_experiment.py --report   # tables + plots from the finished runs

Conditions: `stress` (every rejected answer is a wrong answer + EOS) and `mixed` (half of them are the right
answer repeated without EOS). Traces come from each run's metrics.csv: the raw rejected-EOS log-prob during
training, and greedy / sampled generation metrics on ID and OOD prompts at every validation.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ARMS = ("dpo", "simpo", "smpo", "smpo-modified")
# ablations: arm -> (recipe, objective init_args that override it). They go through a YAML file: jsonargparse
# rejects `--...=null` on the command line for these optional floats.
_NO_TRANSFORMS = dict(eos_rejected_coef=1.0, lower_clip_percentile=None, min_log_prob=None)
ABLATIONS = {
    "dpo-nll": ("dpo", dict(nll_chosen_weight=1.0)),
    # what the v2 code optimised: modified defaults + hinge, no transforms
    "smpo-published": ("smpo-modified", dict(loss_type="hinge", **_NO_TRANSFORMS)),
    # SMPO modified with its transforms disabled one at a time, all at once, and without the SFT term
    "smpo-mod-noflip": ("smpo-modified", dict(eos_rejected_coef=1.0)),
    "smpo-mod-noclip": ("smpo-modified", dict(lower_clip_percentile=None)),
    "smpo-mod-nofloor": ("smpo-modified", dict(min_log_prob=None)),
    "smpo-mod-none": ("smpo-modified", _NO_TRANSFORMS),
    "smpo-mod-nosft": ("smpo-modified", dict(sft_weight=0.0)),
    "smpo-mod-nosft-none": ("smpo-modified", dict(sft_weight=0.0, **_NO_TRANSFORMS)),
    # an unbounded preference loss like DPO's (sigmoid), no SFT term: with and without the transforms
    "smpo-sig-nosft": ("smpo-modified", dict(loss_type="sigmoid", sft_weight=0.0)),
    "smpo-sig-nosft-none": ("smpo-modified", dict(loss_type="sigmoid", sft_weight=0.0, **_NO_TRANSFORMS)),
    # ... and with one transform disabled at a time
    "smpo-sig-nosft-noflip": ("smpo-modified", dict(loss_type="sigmoid", sft_weight=0.0, eos_rejected_coef=1.0)),
    "smpo-sig-nosft-noclip": ("smpo-modified", dict(loss_type="sigmoid", sft_weight=0.0, lower_clip_percentile=None)),
    "smpo-sig-nosft-nofloor": ("smpo-modified", dict(loss_type="sigmoid", sft_weight=0.0, min_log_prob=None)),
    # ... and with one transform alone
    "smpo-sig-nosft-onlyflip": (
        "smpo-modified",
        dict(loss_type="sigmoid", sft_weight=0.0, lower_clip_percentile=None, min_log_prob=None),
    ),
    "smpo-sig-nosft-onlyclip": (
        "smpo-modified",
        dict(loss_type="sigmoid", sft_weight=0.0, eos_rejected_coef=1.0, min_log_prob=None),
    ),
    "smpo-sig-nosft-onlyfloor": (
        "smpo-modified",
        dict(loss_type="sigmoid", sft_weight=0.0, eos_rejected_coef=1.0, lower_clip_percentile=None),
    ),
}
CONDITIONS = {"stress": 0.0, "mixed": 0.5}
ROOT = Path(__file__).resolve().parents[2]


def run_arm(args, arm: str, seed: int) -> int:
    name = f"{args.condition}-{arm}-lr{args.lr:g}-s{seed}"
    if list((Path(args.root) / name).glob("version_*/checkpoints/last.ckpt")):
        return 0  # finished earlier
    recipe, overrides = ABLATIONS.get(arm, (arm, {}))
    extra = []
    if overrides:
        path = Path(args.root) / f"{name}.objective.yaml"
        path.write_text(json.dumps({"model": {"init_args": {"objective": {"init_args": overrides}}}}))
        extra = ["--config", str(path)]  # JSON is YAML
    cmd = [
        sys.executable, "-m", "litlab.shared.cli", "fit",
        "--config", "configs/trainer/cpu.yaml", "--config", f"configs/alignment/{recipe}.yaml", *extra,
        f"--model.init_args.policy.init_args.checkpoint={args.sft}",
        f"--model.init_args.lr={args.lr}", f"--model.init_args.eval_samples={args.samples}",
        f"--data.init_args.data_dir=data/alignment/arith-{args.condition}",
        f"--data.init_args.task.degenerate_fraction={CONDITIONS[args.condition]}",
        f"--seed_everything={seed}", f"--trainer.max_steps={args.steps}", "--trainer.enable_progress_bar=false",
        "--trainer.default_root_dir", args.root, "--run_name", name,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(Path(args.root) / f"{name}.log", "w") as log:
        return subprocess.call(["nice", "-n", "10", *cmd], cwd=ROOT, env=env, stdout=log, stderr=log)


def prepare_data(condition: str) -> None:
    from litlab.alignment.data.synthetic import ArithmeticTask, write

    write(ArithmeticTask(degenerate_fraction=CONDITIONS[condition]), ROOT / f"data/alignment/arith-{condition}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sft", help="SFT checkpoint every arm starts from")
    p.add_argument("--condition", choices=sorted(CONDITIONS), default="stress")
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=[*ARMS, *ABLATIONS])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--samples", type=int, default=2, help="sampled generations per prompt at T 0.8")
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--root", default="runs/alignment-exp")
    p.add_argument("--report", action="store_true", help="only write tables and plots")
    args = p.parse_args()
    if not args.report:
        if not args.sft or not Path(args.sft).exists():
            p.error(f"--sft must be an existing checkpoint, got {args.sft!r}")
        Path(args.root).mkdir(parents=True, exist_ok=True)
        prepare_data(args.condition)
        jobs = [(arm, seed) for seed in args.seeds for arm in args.arms]
        with ThreadPoolExecutor(args.parallel) as pool:
            codes = list(pool.map(lambda job: run_arm(args, *job), jobs))
        print(json.dumps({f"{a}-s{s}": c for (a, s), c in zip(jobs, codes)}))
    from alignment_eos_report import report

    report(Path(args.root))


if __name__ == "__main__":
    main()
