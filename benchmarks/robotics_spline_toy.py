"""Experiment 2: the FAST paper's spline toy (arXiv 2501.09747, Fig. 3) at CPU scale.

Trains one SplineToy model per (tokenizer, T) for the same number of steps and writes the greedy-decoding
metrics as JSON; ``--report`` gathers them into a markdown table and a plot.

    nice python benchmarks/robotics_spline_toy.py --tokenizer binning --horizons 25 50 100 200 400
    nice python benchmarks/robotics_spline_toy.py --tokenizer fast --horizons 25 50 100 200 400 800
    python benchmarks/robotics_spline_toy.py --report --plot packages/robotics/docs/spline_toy.png
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def train_one(tokenizer: str, horizon: int, steps: int, out: Path, args) -> dict:
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger

    from litlab.robotics.experiments.spline_toy import SplineToy

    L.seed_everything(args.seed, verbose=False)
    model = SplineToy(
        tokenizer,
        horizon,
        n_train=args.n_train,
        n_val=args.n_val,
        batch_size=args.batch_size,
        dim=args.dim,
        num_layers=args.layers,
        lr=args.lr,
        max_steps=steps,
        seed=args.seed,
    )
    trainer = L.Trainer(
        max_steps=steps,
        accelerator="cpu",
        logger=CSVLogger(out, name=f"{tokenizer}_T{horizon}"),
        enable_checkpointing=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        gradient_clip_val=1.0,
        enable_model_summary=False,
        log_every_n_steps=25,
    )
    t0 = time.time()
    trainer.fit(model)
    model.eval()
    res = {
        "tokenizer": tokenizer,
        "T": horizon,
        "steps": steps,
        "train_seconds": time.time() - t0,
        "budget": model.codec.budget,
        "vocab": model.codec.vocab_size,
    } | model.evaluate()
    res["train_loss"] = float(trainer.callback_metrics.get("train/loss", float("nan")))
    (out / f"{tokenizer}_T{horizon}.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res), flush=True)
    return res


def report(out: Path, plot: str | None):
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("*_T*.json"))]
    by = {(r["tokenizer"], r["T"]): r for r in rows}
    ts = sorted({r["T"] for r in rows})
    lines = [
        "| T | binning MSE | FAST MSE | FAST strict decode failures | copy fraction binning pred / true "
        "| FAST tokens budget | steps |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in ts:
        b, f = by.get(("binning", t)), by.get(("fast", t))
        lines.append(f"| {t} | {b['mse']:.4f} |" if b else f"| {t} | not run |")
        lines[-1] += f" {f['mse']:.4f} | {f['decode_failures']:.0%} |" if f else " not run | |"
        lines[-1] += f" {b['copy_frac_pred']:.2f} / {b['copy_frac_true']:.2f} |" if b else " |"
        lines[-1] += f" {f['budget'] if f else ''} | {(b or f)['steps']} |"
    print("\n".join(lines))
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=90)
        for tok, style in (("binning", "o-"), ("fast", "s-")):
            pts = [(t, by[(tok, t)]["mse"]) for t in ts if (tok, t) in by]
            if pts:
                ax.plot(*zip(*pts), style, label="naive binning" if tok == "binning" else "FAST")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(ts, [str(t) for t in ts])
        ax.minorticks_off()
        ax.set_xlabel("samples per chunk T")
        ax.set_ylabel("prediction MSE (greedy)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(plot)
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", choices=["binning", "fast"], default="fast")
    ap.add_argument("--horizons", type=int, nargs="+", default=[25, 50, 100, 200, 400, 800])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--n-train", type=int, default=4000)
    ap.add_argument("--n-val", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/spline_toy")
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--plot", default=None)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.report:
        report(out, args.plot)
        return
    torch.set_num_threads(1)
    for t in args.horizons:
        train_one(args.tokenizer, t, args.steps, out, args)


if __name__ == "__main__":
    main()
