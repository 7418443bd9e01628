"""Policy adapters: litlab's CausalLM and local Hugging Face causal LMs behind one protocol."""

from .base import PolicyAdapter, disable_dropout, load_weights
from .hf import HFCausalLM, LoraSettings
from .litlab_lm import LitlabCausalLM

__all__ = ["HFCausalLM", "LitlabCausalLM", "LoraSettings", "PolicyAdapter", "disable_dropout", "load_weights"]
