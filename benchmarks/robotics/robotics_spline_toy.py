"""Experiment 2: the FAST paper's spline toy (arXiv 2501.09747, Fig. 3).

Trains one SplineToy model per (tokenizer, T) for the same number of steps and writes the greedy-decoding
metrics as JSON (re-written at every ``--eval-every`` steps, with the history, so a run cut short still
leaves its last evaluation); ``--report`` gathers them into a markdown table and a plot. On a GPU
(``--accelerator auto``) each (tokenizer, T) run is small enough that several share the device:
``benchmarks/robotics/robotics_gpu_run.sh`` starts all twelve at once.

    nice python benchmarks/robotics/robotics_spline_toy.py --tokenizer binning --horizons 25 50 100 200 400
    nice python benchmarks/robotics/robotics_spline_toy.py --tokenizer fast --horizons 25 50 100 200 400 800
    python benchmarks/robotics/robotics_spline_toy.py --report --plot packages/robotics/docs/spline_toy.png
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import lightning as L
import torch


class EvalEvery(L.Callback):
    """Greedy-decode the held-out curves every ``every`` steps and at the end; write the JSON each time."""

    def __init__(self, every: int, path: Path, info: dict):
        self.every, self.path, self.info, self.history, self.t0 = every, path, info, [], time.time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        if step % self.every and step != trainer.max_steps:
            return
        pl_module.eval()
        res = {"steps_done": step, "train_seconds": time.time() - self.t0} | pl_module.evaluate()
        pl_module.train()
        res["train_loss"] = float(outputs["loss"]) if isinstance(outputs, dict) else float(outputs)
        self.history.append(res)
        self.path.write_text(json.dumps(self.info | res | {"history": self.history}, indent=2))
        print(json.dumps(self.info | res), flush=True)


def train_one(tokenizer: str, horizon: int, steps: int, out: Path, args) -> dict:
    from lightning.pytorch.loggers import CSVLogger

    from litlab.robotics.spline_toy.module import SplineToy

    L.seed_everything(args.seed, verbose=False)
    t0 = time.time()
    model = SplineToy(
        tokenizer,
        horizon,
        n_train=args.n_train,
        n_val=args.n_val,
        batch_size=args.batch_size,
        dim=args.dim,
        num_layers=args.layers,
        lr=args.lr,
        warmup_steps=args.warmup,
        seed=args.seed,
    )
    info = {
        "tokenizer": tokenizer,
        "T": horizon,
        "steps": steps,
        "batch_size": args.batch_size,
        "n_train": args.n_train,
        "setup_seconds": time.time() - t0,
        "budget": model.codec.budget,
        "vocab": model.codec.vocab_size,
    }
    path = out / f"{tokenizer}_T{horizon}.json"
    trainer = L.Trainer(
        max_steps=steps,
        accelerator=args.accelerator,
        devices=1,
        logger=CSVLogger(out, name=f"{tokenizer}_T{horizon}"),
        callbacks=[EvalEvery(args.eval_every or steps, path, info)],
        enable_checkpointing=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        gradient_clip_val=1.0,
        enable_model_summary=False,
        log_every_n_steps=100,
    )
    trainer.fit(model)
    return json.loads(path.read_text())


def _half(r: dict) -> str:
    """MSE at the evaluation nearest half of the steps (a convergence check), or blank."""
    hist = [h for h in r.get("history", []) if h["steps_done"] < r.get("steps_done", r["steps"])]
    if not hist:
        return ""
    h = min(hist, key=lambda h: abs(h["steps_done"] - r["steps"] / 2))
    return f"{h['mse']:.4f} @ {h['steps_done']}"


def _at(r: dict | None, step: int) -> dict | None:
    """The evaluation of run ``r`` after exactly ``step`` steps, if it has one."""
    return next((h for h in (r or {}).get("history", []) if h["steps_done"] == step), None)


def report(out: Path, plot: str | None, at_step: int | None = None):
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("*_T*.json"))]
    by = {(r["tokenizer"], r["T"]): r for r in rows}
    ts = sorted({r["T"] for r in rows})
    lines = [
        "| T | binning MSE | FAST MSE | binning MSE at half the steps | FAST MSE at half the steps "
        "| FAST strict decode failures | copy fraction of binning tokens: predicted / true | steps |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in ts:
        b, f = by.get(("binning", t)), by.get(("fast", t))
        cells = [
            str(t),
            f"{b['mse']:.4f}" if b else "not run",
            f"{f['mse']:.4f}" if f else "not run",
            _half(b) if b else "",
            _half(f) if f else "",
            f"{f['decode_failures']:.0%}" if f else "",
            f"{b['copy_frac_pred']:.2f} / {b['copy_frac_true']:.2f}" if b else "",
            " / ".join(str(r.get("steps_done", r["steps"])) for r in (b, f) if r),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if at_step:
        lines += [
            "",
            f"Every run after {at_step} steps:",
            "",
            "| T | binning MSE | FAST MSE | FAST strict decode failures "
            "| copy fraction of binning tokens: predicted / true |",
            "|---:|---:|---:|---:|---:|",
        ]
        for t in ts:
            b, f = _at(by.get(("binning", t)), at_step), _at(by.get(("fast", t)), at_step)
            cells = [str(t), f"{b['mse']:.4f}" if b else "-", f"{f['mse']:.4f}" if f else "-"]
            cells += [f"{f['decode_failures']:.0%}" if f else "-"]
            cells += [f"{b['copy_frac_pred']:.2f} / {b['copy_frac_true']:.2f}" if b else "-"]
            lines.append("| " + " | ".join(cells) + " |")
    print("\n".join(lines))
    if plot:
        _plot(by, ts, plot, at_step)
    return "\n".join(lines)


def _plot(by: dict, ts: list[int], plot: str, at_step: int | None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(8.5, 3.3), dpi=90)
    for tok, mark, color, name in (("binning", "o", "C0", "naive binning"), ("fast", "s", "C1", "FAST")):
        runs = [(t, by[(tok, t)]) for t in ts if (tok, t) in by]
        done = [(t, r["mse"]) for t, r in runs if r.get("steps_done", r["steps"]) == r["steps"]]
        cut = [(t, r) for t, r in runs if r.get("steps_done", r["steps"]) != r["steps"]]
        steps = runs[0][1]["steps"] if runs else 0
        if done:
            ax.plot(*zip(*done), mark + "-", color=color, label=f"{name}, {steps} steps")
        for t, r in cut:
            ax.plot([t], [r["mse"]], mark, mfc="none", color=color)
            ax.annotate(f"{r['steps_done']}", (t, r["mse"]), textcoords="offset points", xytext=(-8, 6), fontsize=7)
        pts = [(t, h["mse"]) for t, r in runs if (h := _at(r, at_step or -1))]
        if pts:
            ax.plot(*zip(*pts), mark + ":", color=color, alpha=0.5, label=f"{name}, {at_step} steps")
        if tok == "binning" and runs:
            ax2.plot([t for t, _ in runs], [r["copy_frac_pred"] for _, r in runs], "o-", label="predicted (last eval)")
            ax2.plot([t for t, _ in runs], [r["copy_frac_true"] for _, r in runs], "k--", label="true curves")
            pts = [(t, h["copy_frac_pred"]) for t, r in runs if (h := _at(r, at_step or -1))]
            if pts:
                ax2.plot(*zip(*pts), "o:", color="C0", alpha=0.5, label=f"predicted, {at_step} steps")
    for a in (ax, ax2):
        a.set_xscale("log")
        a.set_xticks(ts, [str(t) for t in ts])
        a.minorticks_off()
        a.set_xlabel("samples per chunk T")
        a.legend(fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("prediction MSE (greedy)")
    ax.set_title("error vs sampling rate (hollow: run cut at N steps)", fontsize=8)
    ax2.set_ylabel("fraction of binning tokens = previous")
    ax2.set_title("naive binning copies its previous token", fontsize=8)
    fig.tight_layout()
    fig.savefig(plot)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", choices=["binning", "fast"], default="fast")
    ap.add_argument("--horizons", type=int, nargs="+", default=[25, 50, 100, 200, 400, 800])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--eval-every", type=int, default=0, help="also evaluate every N steps (0: only at the end)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--n-train", type=int, default=4000)
    ap.add_argument("--n-val", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--accelerator", default="cpu", help="Lightning accelerator: cpu, gpu or auto")
    ap.add_argument("--out", default="runs/spline_toy")
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--plot", default=None)
    ap.add_argument("--at-step", type=int, default=None, help="--report: also a table of every run at this step")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.report:
        report(out, args.plot, args.at_step)
        return
    torch.set_num_threads(1)
    torch.set_float32_matmul_precision("high")  # TF32 matmuls on a GPU; no effect on CPU
    for t in args.horizons:
        train_one(args.tokenizer, t, args.steps, out, args)


if __name__ == "__main__":
    main()
