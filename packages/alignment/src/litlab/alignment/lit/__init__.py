"""Lightning modules: SFT, preference alignment, and the preference data module."""

from .aligner import PreferenceAligner
from .datamodule import PreferenceDataModule
from .sft import SFTModule

__all__ = ["PreferenceAligner", "PreferenceDataModule", "SFTModule"]
