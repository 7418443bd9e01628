"""Flow Q-Learning (Park, Li, Levine, arXiv 2502.02538) and the BC / IQL / ReBRAC baselines."""

from litlab.rl.fql.agent import FlowBCAgent, FQLAgent, polyak_update, train_step
from litlab.rl.fql.iql import IQLAgent
from litlab.rl.fql.module import IQL, FlowBC, FlowQLearning, OfflineRLModule, ReBRAC
from litlab.rl.fql.rebrac import ReBRACAgent

__all__ = [
    "FQLAgent",
    "FlowBC",
    "FlowBCAgent",
    "FlowQLearning",
    "IQL",
    "IQLAgent",
    "OfflineRLModule",
    "ReBRAC",
    "ReBRACAgent",
    "polyak_update",
    "train_step",
]
