"""Checkpoints of the policy modules that reload on their own and export to transformers.

Under `litlab fit` (LightningCLI) the policy and the objective reach the module as their configs
(class_path + init_args); they are kept in the checkpoint's hyper-parameters, so

    module = PreferenceAligner.load_from_checkpoint("runs/smpo/version_0/checkpoints/last.ckpt")

rebuilds the policy from its config and then loads the trained weights, from a plain script. The files a
policy was *started* from (`LitlabCausalLM.checkpoint`, `hf_path`) are not needed again: the saved config
replaces them by the built architecture (`export_args`). A module built in Python holds live modules instead;
those are left out, and `load_from_checkpoint(path, policy=...)` takes the policy as an argument.
"""

from __future__ import annotations

import copy

from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters


def hparams_ignore() -> list[str]:
    """What `save_hyperparameters` leaves out: nothing under LightningCLI (configs), the live modules otherwise."""
    return [] if _given_hyperparameters.get() is not None else ["policy", "objective"]


class PolicyCheckpointMixin:
    """`on_save_checkpoint` that makes the saved policy config self-contained, and `save_pretrained`."""

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        hp = checkpoint.get("hyper_parameters") or {}
        spec = hp.get("policy")
        export_args = getattr(self.policy, "export_args", None)
        if isinstance(spec, dict) and isinstance(spec.get("init_args"), dict) and export_args is not None:
            spec = copy.deepcopy(spec)  # the checkpoint's dict shares nested objects with self.hparams
            spec["init_args"].update(export_args())
            hp["policy"] = spec

    def save_pretrained(self, folder, tokenizer=None, merge_lora: bool = True) -> None:
        """Write the policy as a transformers folder (HF policies: LoRA merged, or the adapter alone with
        merge_lora=False; litlab policies: `CausalLM.save_pretrained`), with the tokenizer when given."""
        save = getattr(self.policy, "save_pretrained", None)
        if save is None:
            raise TypeError(f"{type(self.policy).__name__} has no save_pretrained: it cannot be exported")
        save(folder, tokenizer=tokenizer, merge_lora=merge_lora)
