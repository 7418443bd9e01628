"""Offline datasets for litlab.rl: generation (D4RL pattern), storage and the DataModule."""

from litlab.rl.offline.datamodule import OfflineRLDataModule
from litlab.rl.offline.storage import FIELDS, OfflineMetadata, load_offline_dataset, save_offline_dataset

__all__ = ["FIELDS", "OfflineMetadata", "OfflineRLDataModule", "load_offline_dataset", "save_offline_dataset"]
