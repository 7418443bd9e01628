"""Tables and plots of the EOS-collapse experiment from the runs' metrics.csv (see alignment_eos_experiment.py).

python benchmarks/alignment/alignment_eos_report.py runs/alignment-exp --out packages/alignment/docs
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN = re.compile(r"(?P<cond>stress|mixed)-(?P<arm>.+)-lr(?P<lr>[0-9.e+-]+)-s(?P<seed>\d+)$")
ARM_ORDER = ("dpo", "dpo-nll", "simpo", "smpo", "smpo-published", "smpo-modified")
LABELS = {"dpo": "DPO", "dpo-nll": "DPO + chosen NLL", "simpo": "SimPO", "smpo": "SMPO original",
          "smpo-published": "SMPO modified as published", "smpo-modified": "SMPO modified",
          "smpo-mod-noflip": "no EOS flip (c = 1)", "smpo-mod-noclip": "no lower clip", "smpo-mod-nofloor": "no floor",
          "smpo-mod-none": "no transforms", "smpo-mod-nosft": "no SFT term",
          "smpo-mod-nosft-none": "no SFT, no transforms",
          "smpo-sig-nosft": "sigmoid, no SFT (all transforms)", "smpo-sig-nosft-none": "sigmoid, no SFT, no transforms",
          "smpo-sig-nosft-noflip": "sigmoid, no SFT, no EOS flip",
          "smpo-sig-nosft-noclip": "sigmoid, no SFT, no lower clip",
          "smpo-sig-nosft-nofloor": "sigmoid, no SFT, no floor",
          "smpo-sig-nosft-onlyflip": "sigmoid, no SFT, EOS flip only",
          "smpo-sig-nosft-onlyclip": "sigmoid, no SFT, lower clip only",
          "smpo-sig-nosft-onlyfloor": "sigmoid, no SFT, floor only"}  # fmt: skip
# transform ablations of SMPO modified, where DPO collapsed (5x lr): (a) as published (smooth lower bound + SFT
# term), (b) with an unbounded sigmoid preference loss and no SFT term
ABLATIONS = {
    "a": ("dpo", "smpo-modified", "smpo-mod-noflip", "smpo-mod-noclip", "smpo-mod-nofloor", "smpo-mod-none",
          "smpo-mod-nosft", "smpo-mod-nosft-none"),
    "b": ("dpo", "smpo-sig-nosft", "smpo-sig-nosft-noflip", "smpo-sig-nosft-noclip", "smpo-sig-nosft-nofloor",
          "smpo-sig-nosft-onlyflip", "smpo-sig-nosft-onlyclip", "smpo-sig-nosft-onlyfloor", "smpo-sig-nosft-none"),
}  # fmt: skip
FINAL = [
    ("gen_id/accuracy", "ID acc"),
    ("gen_id/eos_rate", "ID EOS"),
    ("gen_ood/eos_rate", "OOD EOS"),
    ("gen_ood_sampled/eos_rate", "OOD EOS (T 0.8)"),
    ("gen_ood/repetition_rate", "OOD rep"),
    ("gen_ood/length", "OOD len"),
    ("min_ood_eos", "OOD EOS, min over run"),
    ("rej_eos", "rej. EOS logp"),
    ("min_rej_eos", "rej. EOS logp, min over run"),
    ("train/logps_chosen", "chosen logp"),
]


def read_metrics(run_dir: Path) -> list[dict]:
    import csv

    versions = sorted(run_dir.glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    if not versions or not (versions[-1] / "metrics.csv").exists():
        return []
    return [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(open(versions[-1] / "metrics.csv"))]


def series(rows: list[dict], key: str) -> tuple[list[float], list[float]]:
    pts = [(r["step"], r[key]) for r in rows if key in r]
    return [s for s, _ in pts], [v for _, v in pts]


def final_values(rows: list[dict]) -> dict[str, float]:
    out = {}
    gen = [r for r in rows if "gen_ood/eos_rate" in r]
    for key, _ in FINAL:
        if key == "min_ood_eos":
            out[key] = min(r["gen_ood/eos_rate"] for r in gen) if gen else float("nan")
        elif key == "min_rej_eos":
            _, vals = series(rows, "train/eos_logp_rejected")
            out[key] = min(vals) if vals else float("nan")
        elif key == "rej_eos":
            _, vals = series(rows, "train/eos_logp_rejected")
            out[key] = statistics.fmean(vals[-5:]) if vals else float("nan")
        elif key.startswith("train/"):
            _, vals = series(rows, key)
            out[key] = statistics.fmean(vals[-5:]) if vals else float("nan")
        else:
            out[key] = gen[-1].get(key, float("nan")) if gen else float("nan")
    return out


def collect(root: Path, min_step: int = 290) -> dict:
    """Finished runs (last logged step >= min_step) grouped by (condition, lr) and arm."""
    groups: dict = defaultdict(lambda: defaultdict(list))
    for run in sorted(root.iterdir()):
        m = RUN.match(run.name)
        if m and run.is_dir():
            rows = read_metrics(run)
            if rows and any("gen_ood/eos_rate" in r for r in rows) and max(r["step"] for r in rows) >= min_step:
                groups[(m["cond"], m["lr"])][m["arm"]].append(rows)
    return groups


def fmt(values: list[float]) -> str:
    values = [v for v in values if v == v]  # NaN: metric not recorded (no sampled generations)
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}"


def table(groups: dict, sfts: dict, order: tuple = ARM_ORDER, title: str = "") -> str:
    lines = []
    for (cond, lr), arms in sorted(groups.items()):
        if not any(a in arms for a in order):
            continue
        sft = sfts.get(cond)
        caption = (
            f"\n**{title}{cond}, lr {lr}**: mean ± sd over seeds at the last validation (step 300); rej. EOS logp "
            "and chosen logp: mean over the last 5 logged training steps (50 steps).\n"
        )
        header = "| arm | seeds | " + " | ".join(h for _, h in FINAL) + " |"
        lines += [caption, header, "|---|---|" + "---|" * len(FINAL)]
        if sft:
            lines.append("| SFT start | 1 | " + " | ".join(fmt([sft[k]]) if k in sft else "–" for k, _ in FINAL) + " |")
        for arm in [a for a in order if a in arms]:
            finals = [final_values(rows) for rows in arms[arm]]
            cells = [fmt([f[k] for f in finals]) for k, _ in FINAL]
            lines.append(f"| {LABELS[arm]} | {len(finals)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def band(ax, runs: list[list[dict]], key: str, label: str, smooth: int = 1) -> None:
    import numpy as np

    curves = []
    for rows in runs:
        steps, vals = series(rows, key)
        if smooth > 1 and len(vals) >= smooth:
            vals = list(np.convolve(vals, np.ones(smooth) / smooth, mode="valid"))
            steps = steps[smooth - 1 :]
        curves.append((steps, vals))
    n = min(len(v) for _, v in curves)
    if n == 0:
        return
    arr = np.array([v[:n] for _, v in curves])
    x = curves[0][0][:n]
    mean = arr.mean(0)
    line = ax.plot(x, mean, label=label)[0]
    if len(curves) > 1:
        sd = arr.std(0, ddof=1)
        ax.fill_between(x, mean - sd, mean + sd, color=line.get_color(), alpha=0.2)


def plot(groups: dict, sfts: dict, out: Path, order: tuple = ARM_ORDER, prefix: str = "eos_experiment") -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("train/eos_logp_rejected", "rejected EOS log-prob (train, raw)", 3),
        ("val/eos_logp_chosen", "chosen EOS log-prob (val, teacher-forced)", 1),
        ("gen_ood/eos_rate", "OOD EOS-termination (greedy)", 1),
        ("gen_ood/length", "OOD completion length (greedy, tokens)", 1),
        ("gen_id/accuracy", "ID accuracy (greedy)", 1),
    ]
    paths = []
    for (cond, lr), arms in sorted(groups.items()):
        if sum(a in arms for a in order) < 2:
            continue
        sft = sfts.get(cond)
        fig, axes = plt.subplots(1, len(panels), figsize=(20, 3.4))
        for ax, (key, title, smooth) in zip(axes, panels):
            for arm in [a for a in order if a in arms]:
                band(ax, arms[arm], key, LABELS[arm], smooth)
            if sft and key in sft:
                ax.axhline(sft[key], color="k", ls="--", lw=1, label="SFT start")
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("step")
        axes[0].legend(fontsize=8)
        fig.suptitle(f"condition {cond}, lr {lr}", fontsize=10)
        fig.tight_layout()
        path = out / f"{prefix}_{cond}_lr{lr}.png"
        fig.savefig(path, dpi=70)
        plt.close(fig)
        paths.append(path)
    return paths


def sft_baseline(root: Path, cond: str, n: int = 100) -> dict | None:
    """Generation metrics of the SFT start on the condition's own eval prompts (as the runs evaluate: the
    first n prompts, greedy and 2 samples at T 0.8); cached next to the runs."""
    cache = root / f"sft-baseline-{cond}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    runs = sorted((root / "sft").glob("version_*/checkpoints/last.ckpt"))
    data = ROOT / f"data/alignment/arith-{cond}"
    if not runs or not data.exists():
        return None
    import torch
    import yaml

    from litlab.alignment.data.tokenizer import load_tokenizer
    from litlab.alignment.lit.generation import evaluate_prompts
    from litlab.alignment.models import LitlabCausalLM
    from litlab.attention import BackboneConfig

    torch.set_num_threads(1)
    args = yaml.safe_load(open(runs[-1].parents[1] / "config.yaml"))["model"]["init_args"]["policy"]["init_args"]
    policy = LitlabCausalLM(args["vocab_size"], BackboneConfig(**args["backbone"]), args["tie_embeddings"],
                            checkpoint=str(runs[-1]))  # fmt: skip
    tok = load_tokenizer(ROOT / "data/alignment/arith/tokenizer")
    out = {}
    for split in ("id", "ood"):
        rows = [json.loads(line) for line in open(data / f"eval_{split}.jsonl")][:n]
        eos = {tok.eos_token_id}
        out.update({f"gen_{split}/{k}": v for k, v in evaluate_prompts(policy, tok, eos, rows).items()})
        sampled = evaluate_prompts(policy, tok, eos, rows, temperature=0.8, samples=2)
        out.update({f"gen_{split}_sampled/{k}": v for k, v in sampled.items()})
    cache.write_text(json.dumps(out, indent=1))
    return out


def report(root: Path, out: Path | None = None) -> str:
    out = out or Path(__file__).resolve().parents[2] / "packages/alignment/docs"
    out.mkdir(parents=True, exist_ok=True)
    groups = collect(root)
    sft = {cond: sft_baseline(root, cond) for cond, _ in groups}
    text = table(groups, sft)
    plots = plot(groups, sft, out)
    stressed = {key: arms for key, arms in groups.items() if float(key[1]) > 1e-3}
    for name, order in ABLATIONS.items():
        sub = {key: arms for key, arms in stressed.items() if any(a in arms for a in order[2:])}
        if sub:
            text += "\n\n" + table(sub, sft, order, f"ablation ({name}) of SMPO modified, ")
            plots += plot(sub, sft, out, order, f"eos_ablation_{name}")
    (out / "eos_experiment.md").write_text(text + "\n")
    summary = {f"{c}-lr{lr}": {arm: [final_values(r) for r in runs] for arm, runs in arms.items()}
               for (c, lr), arms in groups.items()}  # fmt: skip
    (out / "eos_experiment.json").write_text(json.dumps({"sft": sft, "runs": summary}, indent=1))
    print(text)
    print("plots:", *plots)
    return text


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("root", nargs="?", default="runs/alignment-exp")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    report(Path(a.root), Path(a.out) if a.out else None)
