"""Language-model training: the `LanguageModel` LightningModule, schedule and FLOP counting."""

from litlab.attention.lm.flops import flops_per_token
from litlab.attention.lm.module import LanguageModel

__all__ = ["LanguageModel", "flops_per_token"]
