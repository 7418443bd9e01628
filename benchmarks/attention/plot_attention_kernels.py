"""Plot a run of `attention_kernels.py` (its attention_kernels.json): forward and forward+backward median ms
against T at D = 128 for every provider in the file, with the HBM floor, and the per-round spread where the run
took turns (--rounds).

    python benchmarks/attention/plot_attention_kernels.py packages/attention/docs/kernels_h200_run22.json \
        --out packages/attention/docs/kernels_h200.png
"""

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"litlab": "tab:blue", "fla": "tab:orange", "lightning-attn": "tab:green", "sdpa": "tab:red"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", help="attention_kernels.json of one run")
    ap.add_argument("--out", default="attention_kernels.png")
    ap.add_argument("--d", type=int, default=128, help="head dim of the rows to plot")
    args = ap.parse_args()
    with open(args.json) as f:
        run = json.load(f)
    rows = sorted((r for r in run["rows"] if r["D"] == args.d and r["B"] * r["T"] == 65536), key=lambda r: r["T"])
    if not rows:
        raise SystemExit(f"{args.json}: no rows with D = {args.d} and 64k tokens per call")
    ts = [r["T"] for r in rows]
    providers = [p for p in COLORS if any(p in r for r in rows)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, i, title, floor in ((axes[0], 0, "forward", "floor_fwd"), (axes[1], 1, "forward + backward", "floor_fb")):
        for p in providers:
            pts = [(r["T"], r[p][i]) for r in rows if p in r]
            ax.plot(*zip(*pts), "o-", color=COLORS[p], label=p)
            for r in rows:  # each round's median, where the providers took turns
                for rnd in r.get("rounds", {}).get(p, []):
                    ax.plot(r["T"], rnd[i], "_", color=COLORS[p], markersize=10, alpha=0.6)
        ax.plot(ts, [r[floor] for r in rows], "k--", label="HBM floor")
        ax.set_xscale("log", base=2)
        ax.set_xticks(ts, [f"{t // 1024}k" for t in ts])
        ax.set_ylim(bottom=0)
        ax.set_xlabel("T (B = 64k / T)")
        ax.set_ylabel("median ms")
        ax.set_title(f"{title}, H = 16, D = E = {args.d}, bf16")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(run["header"].split(";")[0], fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
