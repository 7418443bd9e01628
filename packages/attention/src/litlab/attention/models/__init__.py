"""Sequence models of litlab.attention: the reusable `Backbone` and the `CausalLM`."""

from litlab.attention.models.backbone import Backbone, BackboneState
from litlab.attention.models.causal_lm import CausalLM
from litlab.attention.models.config import BackboneConfig

__all__ = ["Backbone", "BackboneConfig", "BackboneState", "CausalLM"]
