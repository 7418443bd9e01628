"""Batches for the VLA policies: a collate that tokenizes in the data loader's workers (so the FAST
BPE runs off the training step), and the observation pre/post-processing around ``select_action``
(LeRobot's preprocessor / postprocessor pipelines, in two functions)."""

from __future__ import annotations

import numpy as np
import torch

from litlab.robotics.vla.processor import PAD, VLAProcessor

__all__ = ["VLACollate", "pad_postfix", "preprocess_observation", "postprocess_actions"]


def pad_postfix(seqs: list[list[int]]) -> torch.Tensor:
    """Postfix id lists -> ``[B, L]`` right-padded with PAD (L = longest row)."""
    width = max(len(s) for s in seqs)
    return torch.tensor([s + [PAD] * (width - len(s)) for s in seqs], dtype=torch.long)


class VLACollate:
    """Stack dataset items and add ``prefix_ids [B, P_text]`` and (token arms) ``postfix_ids [B, L]``.

    Items carry normalized ``observation.state`` and ``action`` (the dataset's q01/q99, which the
    processor holds as well; the data module checks that they agree).
    """

    def __init__(self, processor: VLAProcessor):
        self.processor = processor

    def __call__(self, items: list[dict]) -> dict:
        batch = {k: torch.stack([it[k] for it in items]) for k in items[0] if isinstance(items[0][k], torch.Tensor)}
        batch["task"] = [it["task"] for it in items]
        batch["prefix_ids"] = self.processor.encode_prefix(batch["task"], batch["observation.state"])
        if self.processor.kind != "continuous":
            batch["postfix_ids"] = pad_postfix(self.processor.encode_actions(batch["action"]))
        return batch


def preprocess_observation(processor: VLAProcessor, images: np.ndarray, states: np.ndarray, tasks: list[str],
                           device: torch.device | str = "cpu") -> dict:
    """Environment observations (``images [B, S, S, 3]`` uint8, raw ``states [B, Ds]``) -> a policy batch."""
    state = torch.as_tensor(processor.state_norm.transform(np.asarray(states, np.float64)), dtype=torch.float32)
    image = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    return {"observation.image": image.to(device), "observation.state": state.to(device), "task": list(tasks),
            "prefix_ids": processor.encode_prefix(list(tasks), state).to(device)}


def postprocess_actions(processor: VLAProcessor, actions_norm: torch.Tensor) -> np.ndarray:
    """Normalized actions ``[..., D]`` -> raw units (numpy float64)."""
    return processor.action_norm.inverse(actions_norm.detach().double().cpu().numpy())
