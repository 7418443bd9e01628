"""Lightning modules: SFT, preference alignment, GRPO, and their data modules."""

from .aligner import PreferenceAligner
from .datamodule import PreferenceDataModule
from .grpo import GRPOAligner
from .prompt_data import PromptDataModule
from .sft import SFTModule

__all__ = ["GRPOAligner", "PreferenceAligner", "PreferenceDataModule", "PromptDataModule", "SFTModule"]
