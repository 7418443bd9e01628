"""In-context RL experiments 1, 2 and 5 in one process (plain torch + the litlab modules, no Lightning CLI).

For each grid family (Dark Room, Key-to-Door): generate the 50%-quality AD-epsilon histories
(`python -m litlab.rl.histories`, arXiv 2312.12275), train an `InContextAgent` (Vintix stacked tokens,
arXiv 2501.19400) with a lightning and a softmax `litlab.attention.Backbone` for the same wall-clock
budget, then roll each out from an empty context on the held-out tasks for 16x the training context
(shots 1..16 C/T; return, normalized score IQM with its bootstrap CI) — the softmax agent both with its
sliding-window KV cache and with the full cache (ALiBi, no window). Training: AdamW (decay on matrices),
linear warmup + cosine (litlab.shared.optim), bf16 autocast, windows gathered on the GPU
(`DeviceWindows`); the step count is fixed after a 30-step timing probe so that the cosine schedule
ends at the budget. Writes icrl_results.json and one PNG per family to --out.

    python benchmarks/rl/icrl_experiments.py --out results --families darkroom keydoor --train-s 40
    python benchmarks/rl/icrl_experiments.py --out /tmp/icrl --tiny        # CPU smoke run, 1-2 minutes
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from litlab.attention import Backbone
from litlab.rl.histories.store import HistorySet
from litlab.rl.icrl import DeviceWindows, InContextAgent, in_context_rollout, shot_table
from litlab.shared.optim import param_groups, warmup_cosine

# eps_end that `--quality 0.5` calibrates (calibrate_eps_end on the first 64 training tasks, seed 0)
FAMILIES = {
    "darkroom": {"horizon": 20, "eps_end": 0.4145, "episodes": 2000, "tasks_per_job": 6, "seeds": 2},
    "keydoor": {"horizon": 40, "eps_end": 0.7495, "episodes": 2000, "tasks_per_job": 70, "seeds": 4},
    "darkroom_tiny": {"horizon": 10, "eps_end": 0.3, "episodes": 60, "tasks_per_job": 25, "seeds": 2},
}
BACKBONES = {
    "lightning": {"pattern": "L", "dropout": 0.1},
    "softmax": {"pattern": "S", "position": "alibi", "qk_norm": True, "dropout": 0.1, "attn_dropout": 0.1},
}


def history_command(family: str, out: Path, workers: int, episodes: int) -> list[str]:
    f = FAMILIES[family]
    return [sys.executable, "-m", "litlab.rl.histories", "--family", family, "--out", str(out), "--episodes",
            str(episodes), "--eps-end", str(f["eps_end"]), "--workers", str(workers),
            "--tasks-per-job", str(f["tasks_per_job"])]  # fmt: skip


def make_agent(hs: HistorySet, name: str, dim: int, layers: int, heads: int, context: int, device) -> InContextAgent:
    kw = dict(BACKBONES[name])
    if kw["pattern"] == "S":
        kw["window"] = context
    backbone = Backbone(dim, layers, heads, dim // heads, **kw)
    groups = {hs.meta["group"]: {"obs_kind": "discrete", "obs_n": int(hs.meta["num_obs"]), "act_kind": "discrete",
                                 "act_n": int(hs.meta["num_actions"]), "reward_scale": 1.0}}  # fmt: skip
    return InContextAgent(backbone, groups=groups).to(device)


def train(agent: InContextAgent, data: DeviceWindows, batch: int, budget_s: float, lr: float, log) -> dict:
    """Train for about budget_s seconds; returns the loss curve and the median step time."""
    dev = agent.device
    cuda = dev.type == "cuda"
    opt = torch.optim.AdamW(param_groups(agent, 0.1, decay_embeddings=False), lr=lr, betas=(0.9, 0.99), fused=cuda)
    plan = {"warmup": 50, "total": 10**9}  # fixed after the timing probe
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, plan["warmup"], plan["total"], 0.1))
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    curve, chunk_ms, step, t_start = [], [], 0, time.perf_counter()
    agent.train()
    while step < plan["total"]:
        t0 = time.perf_counter()
        for _ in range(10):
            with amp:
                loss, info = agent.loss(data.sample(batch))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
        sync()
        chunk_ms.append((time.perf_counter() - t0) * 100)  # ms per step over these 10
        if step == 40:  # probe: 10 warm-up steps excluded
            per = float(np.median(chunk_ms[1:])) / 1e3
            plan["total"] = max(60, int((budget_s - (time.perf_counter() - t_start)) / per) + step)
            plan["warmup"] = max(20, plan["total"] // 20)
            log(f"  {per * 1e3:.1f} ms/step -> {plan['total']} steps, warmup {plan['warmup']}")
        if step % 200 == 0 or step >= plan["total"]:
            acc = float(next(iter(info.values())))
            curve.append({"step": step, "loss": float(loss.detach()), "accuracy": acc, "lr": sched.get_last_lr()[0]})
            log(f"  step {step}: loss {float(loss.detach()):.4f} acc {acc:.3f}")
    return {"steps": step, "step_ms_median": float(np.median(chunk_ms[1:])), "wall_s": time.perf_counter() - t_start,
            "curve": curve, "batch": batch, "lr": lr}  # fmt: skip


@torch.no_grad()
def val_loss(agent: InContextAgent, val: DeviceWindows, n: int = 512) -> float:
    agent.eval()
    g = torch.Generator(val.device).manual_seed(123)
    task = torch.randint(len(val.tasks), (n,), generator=g, device=val.device)
    start = (torch.rand(n, generator=g, device=val.device, dtype=torch.float64) * val.counts[task]).long()
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if val.device.type == "cuda" else nullcontext()
    with amp:
        loss, _ = agent.loss({val.group: val.gather(task, start * val.stride)})
    return float(loss)


def evaluate(agent: InContextAgent, hs: HistorySet, episodes: int, seeds: int, full_kv: bool = False) -> dict:
    """Cold-start rollouts on every held-out task; full_kv drops the softmax layers' sliding window."""
    agent.eval()
    mixers = [b.mixer for b in agent.backbone.blocks if hasattr(b.mixer, "window")]
    saved = [m.window for m in mixers]
    if full_kv:
        for m in mixers:
            m.window = None
    try:
        out = in_context_rollout(agent, hs.meta["group"], hs.meta["family"], hs.split["test"], episodes, seeds)
    finally:
        for m, w in zip(mixers, saved, strict=True):
            m.window = w
    rows = shot_table(out["returns"], out["normalized"], 1000)
    return {"rows": rows, "steps_per_s": out["steps_per_s"], "random": out["random"].tolist(),
            "expert": out["expert"].tolist(), "returns": out["returns"].mean(1).tolist()}  # fmt: skip


def plot_family(fam: str, res: dict, ctx_eps: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for name, r in res["runs"].items():
        for key, style in (("eval", "-"), ("eval_full_kv", "--")):
            if key not in r:
                continue
            rows = r[key]["rows"]
            k = np.array([x["shot"] for x in rows])
            m, s = np.array([x["return_mean"] for x in rows]), np.array([x["return_std"] for x in rows])
            label = name + (" (full KV, no window)" if key == "eval_full_kv" else "")
            a.plot(k, m, style, label=label)
            a.fill_between(k, m - s, m + s, alpha=0.1) if key == "eval" else None
        b.plot([c["step"] for c in r["train"]["curve"]], [c["loss"] for c in r["train"]["curve"]], label=name)
    for x in (ctx_eps, 4 * ctx_eps):
        a.axvline(x, color="grey", lw=0.8, ls=":")
    a.set(xscale="log", xlabel="episodes in context (shots); dotted: 1x, 4x training context",
          ylabel="return on held-out tasks (mean +- sd)", title=f"{fam}: {res['card']}")  # fmt: skip
    b.set(xlabel="step", ylabel="train CE", title="training loss")
    a.legend(fontsize=8)
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def shot_summary(rows: list[dict], shots: list[int]) -> dict:
    return {k: {"return": rows[k - 1]["return_mean"], "norm_iqm": rows[k - 1]["norm_iqm"],
                "ci": [rows[k - 1]["norm_lo"], rows[k - 1]["norm_hi"]]} for k in shots if k <= len(rows)}  # fmt: skip


def run_family(fam: str, root: Path, a: argparse.Namespace, dev, log, results: dict, save) -> None:
    hs = HistorySet(root)
    horizon = FAMILIES[fam]["horizon"]
    ctx = a.context_episodes * horizon
    quality = json.loads((root / "report.json").read_text())["summary"] if (root / "report.json").is_file() else {}
    train_data = DeviceWindows(hs, ctx, "train", device=dev, seed=0)
    val_data = DeviceWindows(hs, ctx, "test", device=dev, seed=1)
    res = results.setdefault(fam, {"card": results["env"]["card"], "context_steps": ctx, "histories": quality,
                                   "train_windows": train_data.num_windows, "runs": {}})  # fmt: skip
    episodes = a.eval_multiple * a.context_episodes
    shots = sorted({1, a.context_episodes, 4 * a.context_episodes, episodes})
    for name in a.backbones:
        torch.manual_seed(0)
        agent = make_agent(hs, name, a.dim, a.layers, a.heads, ctx, dev)
        log(f"{fam} / {name}: {sum(p.numel() for p in agent.parameters()) / 1e6:.2f}M params, context {ctx}")
        batch = max(1, a.tokens_per_batch // ctx)
        run = {"train": train(agent, train_data, batch, a.train_s, a.lr, log)}
        run["val_loss_heldout"] = val_loss(agent, val_data)
        t0 = time.perf_counter()
        run["eval"] = evaluate(agent, hs, episodes, FAMILIES[fam]["seeds"])
        if name == "softmax":
            run["eval_full_kv"] = evaluate(agent, hs, episodes, FAMILIES[fam]["seeds"], full_kv=True)
        run["eval_wall_s"] = time.perf_counter() - t0
        run["summary"] = {k: shot_summary(run[k]["rows"], shots) for k in ("eval", "eval_full_kv") if k in run}
        log(f"  val CE {run['val_loss_heldout']:.4f}; " + json.dumps(run["summary"]["eval"]))
        res["runs"][name] = run
        save()
        del agent
    plot_family(fam, res, a.context_episodes, Path(a.out) / f"icrl_{fam}.png")


def environment() -> dict:
    import platform

    env = {"torch": torch.__version__, "python": platform.python_version(), "card": "cpu"}
    if torch.cuda.is_available():
        env["card"] = torch.cuda.get_device_name()
        cmd = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
        env["driver"] = subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        import triton

        env["triton"] = triton.__version__
    return env


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=None, help="history folders (default: OUT/data)")
    p.add_argument("--families", nargs="+", default=["darkroom", "keydoor"], choices=sorted(FAMILIES))
    p.add_argument("--backbones", nargs="+", default=["lightning", "softmax"], choices=sorted(BACKBONES))
    p.add_argument("--workers", type=int, default=14, help="history generation processes")
    p.add_argument("--episodes", type=int, default=None, help="history episodes per task (default per family)")
    p.add_argument("--context-episodes", type=int, default=4, help="training context in episodes (AD-eps: 4)")
    p.add_argument("--eval-multiple", type=int, default=16, help="roll out for this many training contexts")
    p.add_argument("--train-s", type=float, default=40.0, help="training wall-clock budget per run")
    p.add_argument("--tokens-per-batch", type=int, default=32768, help="batch = this // context steps")
    p.add_argument("--lr", type=float, default=6e-4)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--tiny", action="store_true", help="CPU smoke run: darkroom_tiny, a 32-wide model, 8 s")
    a = p.parse_args(argv)
    if a.tiny:
        a.families, a.dim, a.heads, a.layers, a.train_s, a.workers, a.eval_multiple = (
            ["darkroom_tiny"], 32, 2, 1, 8.0, 2, 4)  # fmt: skip
        a.tokens_per_batch = 320
    return a


def main(argv=None) -> None:
    a = parse(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    data = Path(a.data) if a.data else out / "data"
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    results = {"env": environment(), "args": vars(a)}
    logf = open(out / "icrl_log.txt", "a")

    def log(msg: str) -> None:
        print(msg, flush=True)
        logf.write(msg + "\n")
        logf.flush()

    def save() -> None:
        (out / "icrl_results.json").write_text(json.dumps(results, indent=1))

    log(json.dumps(results["env"]))
    procs = {}
    for i, fam in enumerate(a.families):  # the first set now; the others generate while the first trains
        cmd = history_command(fam, data / fam, a.workers, a.episodes or FAMILIES[fam]["episodes"])
        t0 = time.perf_counter()
        (data / fam).parent.mkdir(parents=True, exist_ok=True)
        gen_log = open(data / f"{fam}.generate.log", "w")
        procs[fam] = (subprocess.Popen(cmd, stdout=gen_log, stderr=subprocess.STDOUT, text=True), t0)
        if i == 0:
            procs[fam][0].wait()
    for fam in a.families:
        proc, t0 = procs[fam]
        proc.wait()
        text = (data / f"{fam}.generate.log").read_text()
        if proc.returncode:
            raise RuntimeError(f"history generation of {fam} failed:\n{text[-3000:]}")
        log(f"{fam} histories ready ({time.perf_counter() - t0:.0f} s after launch): {text.strip()[-400:]}")
        run_family(fam, data / fam, a, dev, log, results, save)
    save()


if __name__ == "__main__":
    main()
