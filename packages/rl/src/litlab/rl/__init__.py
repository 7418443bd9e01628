"""litlab.rl: offline RL with Flow Q-Learning (arXiv 2502.02538), BC, IQL and ReBRAC baselines, local datasets,
and in-context RL over learning histories.

Public names resolve lazily (``litlab.shared.lazy``): ``import litlab.rl.fql`` does not import the
environments (gymnasium) that the history generation needs. A new public name is one entry below.
"""

from litlab.shared.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "IQL": "litlab.rl.fql",
    "FlowBC": "litlab.rl.fql",
    "FlowQLearning": "litlab.rl.fql",
    "HistoryDataModule": "litlab.rl.icrl",
    "ICRLEvalCallback": "litlab.rl.icrl",
    "InContextAgent": "litlab.rl.icrl",
    "OfflineEvalCallback": "litlab.rl.eval",
    "OfflineMetadata": "litlab.rl.offline",
    "OfflineRLDataModule": "litlab.rl.offline",
    "ReBRAC": "litlab.rl.fql",
    "load_offline_dataset": "litlab.rl.offline",
    "save_offline_dataset": "litlab.rl.offline",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
