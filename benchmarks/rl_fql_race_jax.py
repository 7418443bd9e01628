"""The JAX side of ``rl_fql_jax_race.py``: the authors' FQL agent (``seohongpark/fql`` @ 719d044, unmodified).

``--ref`` names a folder holding that repository's ``agents/`` and ``utils/``; it is imported as is. Its
``utils/networks.py`` imports ``distrax`` for the Gaussian actors of its other agents; FQL does not use
them, so where ``distrax`` (through TensorFlow Probability) does not import, a stub stands in for it and
the run records that.
"""

from __future__ import annotations

import json
import platform
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
