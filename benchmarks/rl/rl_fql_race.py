"""Flow Q-Learning update speed, side by side: the authors' JAX agent against litlab's PyTorch agent.

FQL: Park, Li, Levine, arXiv 2502.02538 (Algorithm 1). The JAX side imports ``agents/fql.py`` of
``seohongpark/fql`` @ 719d044, unmodified, from a folder given by ``--ref`` (not part of litlab), and times its
jitted ``FQLAgent.update``. The PyTorch side times ``litlab.rl.fql.train_step`` eagerly, as one CUDA graph,
under ``torch.compile`` and as a CUDA graph of the compiled step. Both: the same network sizes (4x512 GELU
MLPs; 2 critics with LayerNorm + their targets; flow field; one-step policy), 10 Euler steps, batch 256,
one Adam over the trained modules, Polyak tau 0.005, random data (obs 17, action 6: HalfCheetah/Walker2d
sizes). Each step samples its batch from a GPU-resident 1M-transition dataset on the device (a jitted
gather in JAX, ``randint`` + index in PyTorch). Reported: the median steps/s over ``--repeats`` windows of
``--steps`` steps, after compilation and warm-up. Run each side in its own process (one GPU call):

    bash benchmarks/rl/rl_gpu_run.sh OUTDIR     # on the GPU machine: jax, then torch, then the report
    python benchmarks/rl/rl_fql_race.py jax --ref REF --count-only   # (or torch) the work check alone, CPU

Both sides first count their work: every matrix product of one update (forward and backward; PyTorch
through a dispatch mode on CPU tensors, JAX from the traced program) with its FLOPs, and the parameters of
each network; ``report`` prints them next to each other.

The JAX side imports the authors' repository as is from ``--ref`` (its ``agents/`` and ``utils/``). Its
``utils/networks.py`` imports ``distrax`` for the Gaussian actors of its other agents; FQL does not use
them, so where ``distrax`` (through TensorFlow Probability) does not import, a stub stands in for it and
the run records that. The PyTorch side is ``rl_fql_race_torch.py``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np

MODULES = ("critic", "target_critic", "actor_bc_flow", "actor_onestep_flow")


def _distrax_stub(reason: str) -> types.ModuleType:
    stub = types.ModuleType("distrax")

    class Unavailable:
        def __init__(self, *args, **kwargs):
            raise RuntimeError(f"distrax is a stub here ({reason}); FQL does not use it")

    for name in ("Transformed", "MultivariateNormalDiag", "Block", "Tanh"):
        setattr(stub, name, type(name, (Unavailable,), {}))
    return stub


def make_agent(args):
    """The authors' ``FQLAgent.create`` with their default config, sizes from ``args``."""
    notes = {}
    sys.path.insert(0, str(Path(args.ref).resolve()))
    try:
        import distrax

        notes["distrax"] = distrax.__version__
    except Exception as e:  # noqa: BLE001 (any import failure: the stub is recorded)
        reason = f"{type(e).__name__}: {e}"[:300]
        sys.modules["distrax"] = _distrax_stub(reason)
        notes["distrax"] = f"stub ({reason})"
    from agents.fql import FQLAgent, get_config

    cfg = get_config()
    cfg["actor_hidden_dims"] = cfg["value_hidden_dims"] = tuple(args.hidden)
    cfg["flow_steps"] = args.flow_steps
    cfg["batch_size"] = args.batch
    ex_obs, ex_act = np.zeros((1, args.obs), np.float32), np.zeros((1, args.act), np.float32)
    return FQLAgent.create(0, ex_obs, ex_act, cfg), notes


def param_counts(agent) -> dict[str, int]:
    import jax

    params = agent.network.params
    return {m: int(sum(x.size for x in jax.tree_util.tree_leaves(params[f"modules_{m}"]))) for m in MODULES}


def _dots(jaxpr, found: list) -> None:
    """Every dot_general of a jaxpr and its sub-jaxprs: (lhs shape, rhs shape, FLOPs)."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            (lc, _), _ = eqn.params["dimension_numbers"]
            lhs, rhs = (v.aval.shape for v in eqn.invars)
            k = int(np.prod([lhs[i] for i in lc]))
            found.append((tuple(lhs), tuple(rhs), 2 * int(np.prod(eqn.outvars[0].aval.shape)) * k))
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    _dots(inner, found)


def count_jax(args) -> dict:
    """Matrix products of one ``FQLAgent.update`` (its traced program: forward + backward) and parameters."""
    import jax

    agent, notes = make_agent(args)
    rng = np.random.default_rng(0)
    b, o, a = args.batch, args.obs, args.act
    batch = {
        "observations": rng.standard_normal((b, o), dtype=np.float32),
        "actions": rng.uniform(-1, 1, (b, a)).astype(np.float32),
        "rewards": np.zeros(b, np.float32),
        "masks": np.ones(b, np.float32),
        "next_observations": rng.standard_normal((b, o), dtype=np.float32),
    }
    found: list = []
    _dots(jax.make_jaxpr(lambda ag, bt: ag.update(bt))(agent, batch).jaxpr, found)
    return {
        "matmuls": len(found),
        "matmul_gflop": sum(f for *_, f in found) / 1e9,
        "params": param_counts(agent),
        **notes,
    }


def versions(notes: dict) -> dict:
    import flax
    import jax
    import jaxlib
    import optax

    dev = jax.devices()[0]
    return {
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "device": getattr(dev, "device_kind", str(dev)),
        "backend": jax.default_backend(),
        "python": platform.python_version(),
        "matmul_precision_default": str(jax.config.jax_default_matmul_precision),
        **notes,
    }


def time_precision(args, precision: str, data, sample, timed) -> tuple[dict, dict]:
    """Times the authors' jitted ``update`` under one matmul precision; returns (row, versions)."""
    import jax

    agent, notes = make_agent(args)
    state = {"agent": agent, "key": jax.random.PRNGKey(1)}

    def step():
        state["key"], batch = sample(data, state["key"])
        state["agent"], state["info"] = state["agent"].update(batch)

    def sync():
        jax.block_until_ready((state["agent"].network.params, state["info"]))

    with jax.default_matmul_precision(None if precision == "default" else precision):
        t0 = time.perf_counter()
        step()
        sync()
        first = time.perf_counter() - t0
        res = timed(step, sync, args.warmup, args.steps, args.repeats)
    finite = all(bool(np.isfinite(np.asarray(v)).all()) for v in state["info"].values())
    return {"mode": f"jit update, {precision}", "first_call_s": first, "finite_losses": finite, **res}, versions(notes)


def run_jax(args, data_np: dict[str, np.ndarray], timed) -> None:
    import jax

    work = count_jax(args)
    print("work", json.dumps(work), flush=True)
    if args.count_only:
        return
    data = {k: jax.device_put(v) for k, v in data_np.items()}
    n, bsz = args.dataset, args.batch

    @jax.jit
    def sample(data, key):
        key, sub = jax.random.split(key)
        idx = jax.random.randint(sub, (bsz,), 0, n)
        return key, {k: v[idx] for k, v in data.items()}

    rows, start = [], time.monotonic()
    result = {"framework": "jax", "rows": rows, "work": work, "args": vars(args)}
    for precision in args.precisions:
        if time.monotonic() - start > args.budget_s:
            rows.append({"mode": f"jit update, {precision}", "skipped": "time budget"})
        else:
            row, result["env"] = time_precision(args, precision, data, sample, timed)
            rows.append(row)
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "rates"}), flush=True)
        if args.out:
            json.dump(result, open(args.out, "w"), indent=1)


def timed_windows(step, sync, warmup: int, steps: int, repeats: int) -> dict:
    """Run ``step()`` ``warmup`` times, then ``repeats`` windows of ``steps``; ``sync()`` waits for the device."""
    for _ in range(warmup):
        step()
    sync()
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        rates.append(steps / (time.perf_counter() - t0))
    return {"steps_per_s": statistics.median(rates), "min": min(rates), "max": max(rates), "rates": rates}


def random_dataset(args) -> dict[str, np.ndarray]:
    """Random float32 transitions in the D4RL layout (the values do not change the work)."""
    rng = np.random.default_rng(0)
    n = args.dataset
    return {
        "observations": rng.standard_normal((n, args.obs), dtype=np.float32),
        "actions": rng.uniform(-1, 1, (n, args.act)).astype(np.float32),
        "rewards": rng.standard_normal(n, dtype=np.float32),
        "masks": np.ones(n, np.float32),
        "next_observations": rng.standard_normal((n, args.obs), dtype=np.float32),
    }


def report(paths: list[str]) -> None:
    rows, env = [], {}
    for p in paths:
        if not Path(p).is_file():
            print(f"(missing {p})")
            continue
        r = json.load(open(p))
        env[r["framework"]] = r.get("env")
        print(f"work of one update, {r['framework']}: {json.dumps(r['work'])}")
        rows += [dict(row, framework=r["framework"]) for row in r["rows"]]
    print(json.dumps(env))
    jax_rate = next((r["steps_per_s"] for r in rows if r["framework"] == "jax" and "steps_per_s" in r), None)
    print(f"{'framework':>9} {'mode':>24} {'steps/s':>8} {'min':>8} {'max':>8} {'vs JAX':>7} {'first call s':>12}")
    for r in rows:
        if "steps_per_s" not in r:
            print(f"{r['framework']:>9} {r['mode']:>24}  {r.get('error', r.get('skipped', '?'))[:200]}")
            continue
        vs = f"{r['steps_per_s'] / jax_rate:6.2f}x" if jax_rate else "-"
        print(
            f"{r['framework']:>9} {r['mode']:>24} {r['steps_per_s']:8.1f} {r['min']:8.1f} {r['max']:8.1f} "
            f"{vs:>7} {r.get('first_call_s', float('nan')):12.1f}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["jax", "torch", "report"])
    p.add_argument("files", nargs="*", help="report: the JSON files of the jax and torch runs")
    p.add_argument("--ref", default=".ref/fql", help="folder holding the authors' agents/ and utils/")
    p.add_argument("--obs", type=int, default=17)
    p.add_argument("--act", type=int, default=6)
    p.add_argument("--hidden", type=int, nargs="+", default=[512] * 4)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--flow-steps", type=int, default=10)
    p.add_argument("--dataset", type=int, default=1_000_000, help="transitions of the GPU-resident dataset")
    p.add_argument("--steps", type=int, default=200, help="steps per timed window")
    p.add_argument("--repeats", type=int, default=7, help="timed windows; the median is reported")
    p.add_argument("--warmup", type=int, default=50, help="untimed steps after compilation")
    p.add_argument("--modes", nargs="+", default=None, help="torch: modes to run (default: all, in order)")
    p.add_argument("--precisions", nargs="+", default=["default"], help="jax: matmul precisions to run")
    p.add_argument("--budget-s", type=float, default=1e9, help="skip the remaining modes after this long")
    p.add_argument("--device", default="cuda", help="torch: 'cuda', or 'cpu' for a smoke test")
    p.add_argument("--count-only", action="store_true", help="count the work of one update, time nothing")
    p.add_argument("--out", default=None, help="write the results as JSON here (after every row)")
    args = p.parse_args()
    if args.what == "report":
        return report(args.files)
    if args.what == "jax":  # each framework in its own process: import only that one
        run = run_jax
    else:
        from rl_fql_race_torch import run_torch as run
    run(args, random_dataset(args), timed_windows)


if __name__ == "__main__":
    main()
