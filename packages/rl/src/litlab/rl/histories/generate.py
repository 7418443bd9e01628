"""AD-epsilon learning histories of the grid worlds (arXiv 2312.12275), generated in parallel, resumably.

`ad_eps_histories` rolls one history per task, vectorized over a batch of tasks: N episodes, each step a
uniform random action with probability eps(n) (see `schedule.ad_eps`), else the oracle's. Tasks are cut
into fixed jobs (the sorted task list in groups of `tasks_per_job`), each seeded by (seed, its first task);
a resumed run redoes every job with an incomplete task, so it writes exactly the data of an uninterrupted one.
`calibrate_eps_end` picks the floor whose eps-greedy oracle earns a target fraction of the oracle's return
(the "50%-quality" sets: the last 10% of each history runs at the floor).
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from litlab.rl.envs.grid import NUM_ACTIONS, GridSpec, VecGridWorld, oracle_returns, random_returns
from litlab.rl.histories.schedule import ad_eps
from litlab.rl.histories.store import CHUNK_SIZE, completed_tasks, write_task


def ad_eps_histories(spec: GridSpec, tasks: np.ndarray, episodes: int, eps_end: float, seed: int) -> list[dict]:
    """One AD-epsilon history per task: a list of {field: array} dicts, each with 'episode_returns'."""
    env = VecGridWorld(spec, tasks, seed=seed * 1_000_003 + int(tasks[0]))
    rng = np.random.default_rng([seed, int(tasks[0])])
    n, cap = len(tasks), episodes * spec.horizon
    buf = {
        "obs": np.zeros((n, cap), np.int32), "act": np.zeros((n, cap), np.int16),
        "demo_act": np.zeros((n, cap), np.int16), "rew": np.zeros((n, cap), np.float32),
        "step_num": np.zeros((n, cap), np.int32), "eps": np.zeros((n, cap), np.float32),
    }  # fmt: skip
    ptr, rets = np.zeros(n, np.int64), [[] for _ in range(n)]
    rows = np.arange(n)
    while (env.episode < episodes).any():
        active = env.episode < episodes
        eps = ad_eps(env.episode * spec.horizon + env.t, episodes, spec.horizon, eps_end)
        u, rand_act = rng.random(n), rng.integers(0, NUM_ACTIONS, n)
        demo = env.oracle()
        act = np.where(u < eps, rand_act, demo)
        obs, t = env.obs(), env.t.copy()
        _, rew, done, ret = env.step(act)
        r, p = rows[active], ptr[active]
        for name, value in (
            ("obs", obs),
            ("act", act),
            ("demo_act", demo),
            ("rew", rew),
            ("step_num", t),
            ("eps", eps),
        ):
            buf[name][r, p] = value[active]
        ptr[active] += 1
        for i in np.flatnonzero(active & done):
            rets[i].append(float(ret[i]))
    return [{**{k: v[i, : ptr[i]] for k, v in buf.items()}, "episode_returns": np.array(rets[i])} for i in range(n)]


def calibrate_eps_end(spec: GridSpec, tasks: np.ndarray, quality: float, episodes: int = 200, seed: int = 0) -> float:
    """The floor eps whose eps-greedy oracle returns `quality` x the oracle's mean return (bisection)."""
    if not 0.0 < quality <= 1.0:
        raise ValueError(f"quality must be in (0, 1], got {quality}")
    target = quality * oracle_returns(spec, tasks).mean()
    lo, hi = 0.0, 1.0
    for _ in range(14):
        mid = 0.5 * (lo + hi)
        ret = eps_greedy_return(spec, tasks, mid, episodes, seed)
        lo, hi = (mid, hi) if ret > target else (lo, mid)
    return 0.5 * (lo + hi)


def eps_greedy_return(spec: GridSpec, tasks: np.ndarray, eps: float, episodes: int, seed: int = 0) -> float:
    """Mean return of the oracle with a uniform random action with probability eps."""
    env = VecGridWorld(spec, tasks, seed=seed)
    rng, total = np.random.default_rng(seed), 0.0
    while (env.episode < episodes).any():
        active = env.episode < episodes
        act = np.where(rng.random(env.num_envs) < eps, rng.integers(0, NUM_ACTIONS, env.num_envs), env.oracle())
        _, _, done, ret = env.step(act)
        total += ret[active & done].sum()
    return total / (episodes * env.num_envs)


def _job(args: tuple) -> list[int]:
    root, spec, tasks, episodes, eps_end, seed, chunk_size, extra = args
    rand = random_returns(spec, np.asarray(tasks), 100, seed)
    expert = oracle_returns(spec, np.asarray(tasks), 10, seed)
    extra = [{**extra, "random_return": float(r), "expert_return": float(e)} for r, e in zip(rand, expert, strict=True)]
    histories = ad_eps_histories(spec, np.asarray(tasks), episodes, eps_end, seed)
    for task, h, ex in zip(tasks, histories, extra, strict=True):
        rets = h.pop("episode_returns")
        meta = {**ex, "episodes": int(len(rets)), "episode_returns": rets.tolist(), "eps_end": eps_end}
        meta.update(obs_mean=float(h["obs"].mean()), obs_std=float(h["obs"].std()))
        write_task(Path(root), int(task), h, meta, chunk_size)
    return list(tasks)


def generate(
    root: str | Path,
    spec: GridSpec,
    tasks: list[int],
    episodes: int,
    eps_end: float,
    *,
    seed: int = 0,
    workers: int = 1,
    tasks_per_job: int = 8,
    chunk_size: int = CHUNK_SIZE,
    progress=None,
) -> dict:
    """Write (or resume) a history set: tasks already complete in `root` are skipped. Returns the set's
    metadata, also written to root/metadata.json. `progress(done_count)` is called as tasks finish."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    split = {k: v.tolist() for k, v in spec.split().items()}
    meta = {
        "family": spec.name, "group": f"grid{spec.size}x{spec.size}-discrete{NUM_ACTIONS}", "spec": vars(spec),
        "fields": ["obs", "act", "demo_act", "rew", "step_num", "eps"], "chunk_size": chunk_size,
        "tasks": sorted(int(t) for t in tasks), "split": split, "demonstrator": "oracle",
        "schedule": {"kind": "ad_eps", "episodes": episodes, "eps_end": eps_end, "decay_fraction": 0.9},
        "seed": seed, "tasks_per_job": tasks_per_job, "obs_kind": "discrete", "num_obs": spec.num_cells,
        "num_actions": NUM_ACTIONS,
    }  # fmt: skip
    old = root / "metadata.json"
    if old.is_file():
        prev = json.loads(old.read_text())
        same = {k: prev.get(k) for k in ("family", "schedule", "seed", "chunk_size", "tasks_per_job", "tasks")}
        if same != {k: meta[k] for k in same}:
            raise ValueError(f"{root} holds a different history set ({same}); use a new --out folder")
    (root / "metadata.json").write_text(json.dumps(meta, indent=1))
    complete, all_tasks = completed_tasks(root), meta["tasks"]
    jobs = [all_tasks[i : i + tasks_per_job] for i in range(0, len(all_tasks), tasks_per_job)]
    jobs = [j for j in jobs if not set(j) <= complete]
    extra = {"group": meta["group"], "demonstrator": "oracle"}
    args = [(str(root), spec, j, episodes, eps_end, seed, chunk_size, extra) for j in jobs]
    done = len(all_tasks) - sum(map(len, jobs))
    runner = ProcessPoolExecutor(workers) if workers > 1 else None
    results = runner.map(_job, args) if runner else map(_job, args)
    for finished in results:
        done += len(finished)
        if progress:
            progress(done)
    if runner:
        runner.shutdown()
    return meta
