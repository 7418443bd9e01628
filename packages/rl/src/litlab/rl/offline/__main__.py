"""Generate D4RL-style offline datasets (random, medium, medium-replay, expert) for a MuJoCo v5 task.

    python -m litlab.rl.offline --env Hopper-v5 --out data/rl --sac-steps 30000

One SAC run (stable-baselines3) per task gives every variant; see ``demonstrators`` for the recipe. The
normalization returns stored with each dataset are the mean episode returns of the random and expert
datasets themselves (D4RL measured them the same way, with a uniform policy and the expert policy).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress

from litlab.rl.offline.collect import collect_transitions, random_policy
from litlab.rl.offline.demonstrators import actor_policy, pick_expert, pick_medium, train_sac
from litlab.rl.offline.storage import OfflineMetadata, save_offline_dataset


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m litlab.rl.offline", description=__doc__.split("\n\n")[0])
    p.add_argument("--env", required=True, help="gymnasium id with a [-1, 1] action box, e.g. Hopper-v5")
    p.add_argument("--out", default="data/rl", help="parent folder; datasets go to <out>/<task>-<kind>-v5")
    p.add_argument("--sac-steps", type=int, default=30_000, help="SAC environment steps (demonstrator budget)")
    p.add_argument("--checkpoint-every", type=int, default=2_500, help="steps between SAC actor snapshots")
    p.add_argument("--learning-starts", type=int, default=5_000, help="uniform-random steps before SAC updates")
    p.add_argument("--random-size", type=int, default=20_000, help="transitions in the random dataset")
    p.add_argument("--medium-size", type=int, default=50_000, help="transitions in the medium dataset")
    p.add_argument("--expert-size", type=int, default=50_000, help="transitions in the expert dataset")
    p.add_argument("--num-envs", type=int, default=8, help="environments stepped in lock-step per rollout")
    p.add_argument("--seed", type=int, default=0)
    return p


def generate(args: argparse.Namespace) -> dict[str, Path]:
    """Run the whole pipeline; return the path of each dataset written."""
    for name in ("sac_steps", "checkpoint_every", "random_size", "medium_size", "expert_size", "num_envs"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.checkpoint_every > args.sac_steps:
        raise ValueError(f"--checkpoint-every {args.checkpoint_every} exceeds --sac-steps {args.sac_steps}")
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    task = args.env.split("-")[0].lower()
    out = Path(args.out)
    with Progress() as bar:
        tid = bar.add_task(f"{task}: random", total=args.random_size)
        random_data, random_returns = collect_transitions(
            args.env,
            random_policy(_action_space(args.env), args.seed),
            args.random_size,
            args.num_envs,
            args.seed,
            progress=lambda n: bar.update(tid, completed=n),
        )
        tid = bar.add_task(f"{task}: SAC", total=args.sac_steps)
        run = train_sac(
            args.env,
            args.sac_steps,
            args.checkpoint_every,
            args.seed,
            args.learning_starts,
            progress=lambda n: bar.update(tid, completed=n),
        )
        expert_step = pick_expert(run)
        medium_step = pick_medium(run, float(np.mean(random_returns)), min_step=args.learning_starts)
        rollouts = {}
        for kind, step, size in (("expert", expert_step, args.expert_size), ("medium", medium_step, args.medium_size)):
            tid = bar.add_task(f"{task}: {kind} (SAC step {step})", total=size)
            rollouts[kind] = collect_transitions(
                args.env,
                actor_policy(run.snapshots[step]),
                size,
                args.num_envs,
                args.seed + 1000,
                progress=lambda n, t=tid: bar.update(t, completed=n),
            )
    replay = {k: v[:medium_step] for k, v in run.buffer.items()}
    datasets = {"random": (random_data, random_returns), **rollouts, "medium-replay": (replay, None)}
    random_return, expert_return = float(np.mean(random_returns)), float(np.mean(rollouts["expert"][1]))
    if expert_return <= random_return:
        print(
            f"WARNING: expert return {expert_return:.1f} <= random return {random_return:.1f}: normalized "
            "scores are undefined and load_offline_dataset will refuse these datasets; raise --sac-steps"
        )
    actors = out / f"{task}-sac-actors"
    actors.mkdir(parents=True, exist_ok=True)
    for kind, step in (("expert", expert_step), ("medium", medium_step)):
        torch.save(run.snapshots[step].state_dict(), actors / f"{kind}-step{step}.pt")
    common = {
        "generator": "python -m litlab.rl.offline",
        "seed": args.seed,
        "sac_steps": args.sac_steps,
        "sac_expert_step": expert_step,
        "sac_medium_step": medium_step,
        "sac_training_returns": {str(k): v for k, v in sorted(run.returns.items())},
    }
    written = {}
    for kind, (arrays, returns) in datasets.items():
        extra = dict(common, num_transitions=len(arrays["rewards"]))
        if returns:
            extra.update(mean_return=float(np.mean(returns)), num_episodes=len(returns))
        meta = OfflineMetadata(args.env, kind, random_return, expert_return, extra)
        written[kind] = save_offline_dataset(out / f"{task}-{kind}-v5", arrays, meta)
        print(f"{written[kind]}: {json.dumps({k: v for k, v in extra.items() if k != 'sac_training_returns'})}")
    return written


def _action_space(env_id: str):
    import gymnasium as gym

    env = gym.make(env_id)
    space = env.action_space
    env.close()
    return space


def main(argv: list[str] | None = None) -> None:
    generate(_parser().parse_args(argv))


if __name__ == "__main__":
    main()
