"""litlab.rl: offline RL with Flow Q-Learning (arXiv 2502.02538), BC, IQL and ReBRAC baselines, local datasets."""

from litlab.rl.eval import OfflineEvalCallback
from litlab.rl.fql import IQL, FlowBC, FlowQLearning, ReBRAC
from litlab.rl.icrl import HistoryDataModule, ICRLEvalCallback, InContextAgent
from litlab.rl.offline import OfflineMetadata, OfflineRLDataModule, load_offline_dataset, save_offline_dataset

__all__ = [
    "IQL",
    "FlowBC",
    "FlowQLearning",
    "HistoryDataModule",
    "ICRLEvalCallback",
    "InContextAgent",
    "OfflineEvalCallback",
    "OfflineMetadata",
    "OfflineRLDataModule",
    "ReBRAC",
    "load_offline_dataset",
    "save_offline_dataset",
]
