"""litlab.alignment: preference alignment for litlab and Hugging Face causal LMs.

SMPO (the Vikhr models' reference-free loss, original and modified forms; Vikhr report arXiv 2405.13929),
DPO (arXiv 2305.18290), SimPO (arXiv 2405.14734), ORPO (arXiv 2403.07691) as pure losses
(`litlab.alignment.losses`), memory-lean per-token log-probs (`litlab.alignment.logprobs`), policy adapters
(`LitlabCausalLM`, `HFCausalLM`), the Lightning modules `SFTModule`, `PreferenceAligner` and
`PreferenceDataModule`, online GRPO with verifiable rewards (arXiv 2402.03300: `GRPOAligner`,
`PromptDataModule`, `litlab.alignment.rewards`, `litlab.alignment.generation`), and an embedded verifiable
task (`litlab.alignment.data.synthetic`).
"""

from litlab.alignment.lit import GRPOAligner, PreferenceAligner, PreferenceDataModule, PromptDataModule, SFTModule
from litlab.alignment.losses import DPO, ORPO, SMPO, PreferenceObjective, SimPO
from litlab.alignment.models import HFCausalLM, LitlabCausalLM, LoraSettings, PolicyAdapter

__all__ = [
    "DPO",
    "GRPOAligner",
    "HFCausalLM",
    "LitlabCausalLM",
    "LoraSettings",
    "ORPO",
    "PolicyAdapter",
    "PreferenceAligner",
    "PreferenceDataModule",
    "PreferenceObjective",
    "PromptDataModule",
    "SFTModule",
    "SMPO",
    "SimPO",
]
