"""Generate D4RL-style offline datasets (random, medium, medium-replay, expert) for a MuJoCo v5 task.

    python -m litlab.rl.offline --env Hopper-v5 --out data/rl --sac-steps 30000

One SAC run (stable-baselines3) per task gives every variant; see ``demonstrators`` for the recipe. The
normalization returns stored with each dataset are the mean episode returns of the random and expert
datasets themselves (D4RL measured them the same way, with a uniform policy and the expert policy).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress

from litlab.rl.offline.collect import collect_transitions, random_policy
from litlab.rl.offline.demonstrators import actor_policy, pick_expert, pick_medium, train_sac
from litlab.rl.offline.storage import METADATA_FILE, OfflineMetadata, save_offline_dataset
from litlab.shared.errors import report_errors

KINDS = ("random", "medium", "medium-replay", "expert")


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
    p.add_argument("--overwrite", action="store_true", help="replace datasets already at <out> (else refused)")
    return p


def generate(args: argparse.Namespace) -> dict[str, Path]:
    """Run the whole pipeline; return the path of each dataset written."""
    for name in ("sac_steps", "checkpoint_every", "random_size", "medium_size", "expert_size", "num_envs"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.checkpoint_every > args.sac_steps:
        raise ValueError(f"--checkpoint-every {args.checkpoint_every} exceeds --sac-steps {args.sac_steps}")
    space = _action_space(args.env)
    task = args.env.split("-")[0].lower()
    out = Path(args.out)
    _check_targets(out, task, args.overwrite)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    with Progress() as bar:
        tid = bar.add_task(f"{task}: random", total=args.random_size)
        random_data, random_returns = collect_transitions(
            args.env,
            random_policy(space, args.seed),
            args.random_size,
            args.num_envs,
            args.seed,
            progress=lambda n: bar.update(tid, completed=n),
        )
        _mean_return(args, "random", random_returns)  # refused here, before the SAC run, if no episode ended
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
    replay = {k: v[:medium_step].copy() for k, v in run.buffer.items()}
    replay["timeouts"][-1] |= ~replay["terminals"][-1]  # the buffer's last episode is cut off here
    datasets = {"random": (random_data, random_returns), **rollouts, "medium-replay": (replay, None)}
    random_return, expert_return = _reference_returns(args, random_returns, rollouts["expert"][1])
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
        envs = 1 if kind == "medium-replay" else args.num_envs  # SAC trains on one env
        extra = dict(common, num_transitions=len(arrays["rewards"]), episode_layout="contiguous", num_envs=envs)
        if returns:
            extra.update(mean_return=float(np.mean(returns)), num_episodes=len(returns))
        meta = OfflineMetadata(args.env, kind, random_return, expert_return, extra)
        if (out / f"{task}-{kind}-v5").exists():  # only with --overwrite (checked before any work)
            shutil.rmtree(out / f"{task}-{kind}-v5")
        written[kind] = save_offline_dataset(out / f"{task}-{kind}-v5", arrays, meta)
        print(f"{written[kind]}: {json.dumps({k: v for k, v in extra.items() if k != 'sac_training_returns'})}")
    return written


def _check_targets(out: Path, task: str, overwrite: bool) -> None:
    """Refuse, before any work, to replace existing datasets without ``--overwrite``, or other folders at all."""
    existing = [out / f"{task}-{kind}-v5" for kind in KINDS if (out / f"{task}-{kind}-v5").exists()]
    foreign = [str(p) for p in existing if not (p / METADATA_FILE).is_file()]
    if foreign:
        raise FileExistsError(f"--out: {foreign} exist and are not litlab offline datasets (no {METADATA_FILE}); "
                              "move them or choose another --out")  # fmt: skip
    if existing and not overwrite:
        raise FileExistsError(f"--out: datasets already exist at {[str(p) for p in existing]}; pass --overwrite "
                              "to replace them or choose another --out")  # fmt: skip


def _mean_return(args: argparse.Namespace, kind: str, returns: list) -> float:
    """Mean of the completed episodes' returns; none completed (a NaN mean) is refused."""
    size = getattr(args, f"{kind}_size")
    if not returns:
        raise ValueError(
            f"--{kind}-size {size}: no {kind} episode ended in {size} transitions over {args.num_envs} "
            f"environments ({size // args.num_envs} steps each), so there is no {kind} return to normalize "
            f"with; raise --{kind}-size or lower --num-envs (nothing was written)"
        )
    return float(np.mean(returns))


def _reference_returns(args: argparse.Namespace, random_returns: list, expert_returns: list) -> tuple[float, float]:
    """Mean random and expert episode returns; refused (nothing written) when they cannot normalize scores."""
    random_return, expert_return = (
        _mean_return(args, "random", random_returns),
        _mean_return(args, "expert", expert_returns),
    )
    if not expert_return > random_return:
        raise ValueError(
            f"--sac-steps {args.sac_steps}: the expert return {expert_return:.1f} does not exceed the random "
            f"return {random_return:.1f}, so normalized scores are undefined (fit would refuse the datasets); "
            "raise --sac-steps (nothing was written)"
        )
    return random_return, expert_return


def _action_space(env_id: str):
    """The action box of ``env_id``; an unknown id or a non-box / unbounded action space is refused by name."""
    import gymnasium as gym

    if env_id not in gym.registry:
        close = [k for k in gym.registry if k.split("-")[0].lower() == env_id.split("-")[0].lower()]
        raise ValueError(f"--env: {env_id!r} is not a registered gymnasium environment"
                         + (f" (did you mean {close}?)" if close else " (expected e.g. Hopper-v5)"))  # fmt: skip
    env = gym.make(env_id)
    space = env.action_space
    env.close()
    if not isinstance(space, gym.spaces.Box) or not (np.all(space.low == -1) and np.all(space.high == 1)):
        raise ValueError(f"--env: {env_id!r} has the action space {space}; expected a continuous Box in [-1, 1] "
                         "(a MuJoCo task such as Hopper-v5)")  # fmt: skip
    return space


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success; a user error is one line and exit code 1 (``LITLAB_DEBUG=1``: traceback)."""
    return report_errors(generate, _parser().parse_args(argv), prog="python -m litlab.rl.offline")


if __name__ == "__main__":
    sys.exit(main())
