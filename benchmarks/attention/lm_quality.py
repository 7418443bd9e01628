"""Quality at equal size and tokens (attention issue, experiment 3): train the four LM recipes with the
same small backbone and the same token budget on the embedded corpus (CPU), then tabulate validation loss
and plot the validation curves.

    nice python benchmarks/attention/lm_quality.py --steps 400 --dim 128 --out packages/attention/docs

Each recipe runs through the real entry point (`litlab fit`) in a subprocess with one thread; logs and
checkpoints go to runs/lm_quality/<recipe>/version_<n> (the SSMax length benchmark reuses the checkpoints).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from pathlib import Path

from litlab.attention.layers.ffn import default_hidden

RECIPES = ["lm-lightning", "lm-hybrid-moe", "lm-softmax", "lm-ssmax"]
ROOT = Path(__file__).resolve().parents[2]


def run(recipe: str, args) -> Path:
    root = ROOT / "runs" / "lm_quality"
    hidden = default_hidden(args.dim)
    moe_hidden = [f"--model.init_args.backbone.ffn_hidden={hidden // 2}"] if recipe == "lm-hybrid-moe" else []
    cmd = [
        sys.executable,
        "-m",
        "litlab.shared.cli",
        "fit",
        "--config",
        str(ROOT / "configs/trainer/cpu.yaml"),
        "--config",
        str(ROOT / f"configs/attention/{recipe}.yaml"),
        f"--model.init_args.backbone.dim={args.dim}",
        f"--model.init_args.backbone.head_dim={args.dim // 4}",
        *moe_hidden,
        f"--trainer.max_steps={args.steps}",
        f"--trainer.val_check_interval={args.val_every}",
        f"--trainer.limit_val_batches={args.val_batches}",
        "--trainer.enable_progress_bar=false",
        "--trainer.log_every_n_steps=10",
        f"--trainer.default_root_dir={root}",
        f"--seed_everything={args.seed}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    print(" ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    return max((root / recipe).glob("version_*"), key=lambda p: int(p.name.split("_")[1]))


def val_curve(run_dir: Path) -> list[tuple[int, float, float]]:
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    return [(int(r["step"]), float(r["val/loss"]), float(r["val/ppl"])) for r in rows if r.get("val/loss")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--val_every", type=int, default=100)
    p.add_argument("--val_batches", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--recipes", nargs="+", default=RECIPES)
    p.add_argument("--out", default=str(ROOT / "packages/attention/docs"))
    p.add_argument("--collect", action="store_true", help="only tabulate/plot the latest existing runs")
    args = p.parse_args()
    if args.collect:
        root = ROOT / "runs" / "lm_quality"
        latest = {r: max((root / r).glob("version_*"), key=lambda d: int(d.name.split("_")[1])) for r in args.recipes}
        curves = {r: val_curve(d) for r, d in latest.items()}
    else:
        curves = {r: val_curve(run(r, args)) for r in args.recipes}
    lines = ["| recipe | val loss | val ppl |", "|---|---:|---:|"]
    lines += [f"| {r} | {c[-1][1]:.3f} | {c[-1][2]:.1f} |" for r, c in curves.items()]
    print("\n".join(lines))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=110)
    for r, c in curves.items():
        ax.plot([s for s, _, _ in c], [v for _, v, _ in c], marker="o", label=r)
    ax.set_xlabel("step")
    ax.set_ylabel("validation loss (nats/token)")
    ax.set_title(f"stdlib corpus, dim {args.dim}, 4 layers, T=256")
    ax.legend()
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    fig.savefig(os.path.join(args.out, "lm_quality.png"))


if __name__ == "__main__":
    main()
