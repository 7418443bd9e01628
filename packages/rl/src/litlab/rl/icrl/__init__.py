"""In-context RL (Vintix arXiv 2501.19400; AD arXiv 2210.14215; AD-epsilon arXiv 2312.12275): the agent,
its per-group encoders/decoders, the history DataModule, cold-start rollouts and the evaluation callback."""

from litlab.rl.icrl.callback import ICRLEvalCallback, shot_table
from litlab.rl.icrl.data import HistoryDataModule
from litlab.rl.icrl.module import InContextAgent
from litlab.rl.icrl.nets import GroupIO, GroupSpec, action_loss
from litlab.rl.icrl.rollout import in_context_rollout
from litlab.rl.icrl.sampler import DeviceWindows

__all__ = [
    "DeviceWindows",
    "GroupIO",
    "GroupSpec",
    "HistoryDataModule",
    "ICRLEvalCallback",
    "InContextAgent",
    "action_loss",
    "in_context_rollout",
    "shot_table",
]
