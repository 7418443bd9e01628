"""`InContextAgent`: a Vintix-style in-context RL agent (arXiv 2501.19400) trained by algorithm
distillation (AD, arXiv 2210.14215; AD-epsilon, arXiv 2312.12275) on learning histories.

    loss = mean_b mean_t l(decoder_g(h_{b,t}), a_{b,t}),   h = Backbone(tokens)

with l the cross-entropy (discrete actions) or the squared error averaged over dims (continuous),
at every position of every window; g is the sample's group. The backbone is litlab.attention's `Backbone`
(lightning or softmax layers), injected by class_path; the groups' encoders/decoders live in a ModuleDict
keyed by group name. AdamW (decay on matrices only) with linear warmup and cosine decay.
"""

from __future__ import annotations

import numpy as np
import torch
from lightning.pytorch import LightningModule
from torch import Tensor, nn

from litlab.rl.eval.stats import iqm_bootstrap_ci
from litlab.rl.icrl.nets import GroupIO, GroupSpec, action_loss
from litlab.rl.icrl.rollout import in_context_rollout
from litlab.shared.optim import adamw_warmup_cosine, param_groups, total_training_steps


class InContextAgent(LightningModule):
    """Causal sequence model over learning histories that improves in context on unseen tasks.

    Args:
        backbone: the sequence model (litlab.attention.Backbone; its `dim` is d_model).
        groups: group name -> spaces {"obs_kind", "obs_n", "act_kind", "act_n", "reward_scale"}; None: taken
            from the DataModule's `groups` at setup (the link from the data).
        tokens: "stacked" (one token per step, Vintix) or "interleaved" (o, a, r tokens, AD).
        d_rew: reward channels of a stacked token.
        lr: peak learning rate.
        weight_decay: AdamW decay of matrices (not of biases, norms, padding vectors, embedding tables).
        warmup_ratio: share of the steps spent in linear warmup.
        min_lr_ratio: final learning rate / peak.
        betas: AdamW betas.
        test_episodes: episodes ("shots") per held-out task in `test_step` / `predict_step`.
        test_seeds: environment seeds per held-out task.
    """

    def __init__(
        self,
        backbone: nn.Module,
        groups: dict[str, dict] | None = None,
        tokens: str = "stacked",
        d_rew: int = 2,
        lr: float = 3e-4,
        weight_decay: float = 0.1,
        warmup_ratio: float = 0.05,
        min_lr_ratio: float = 0.1,
        betas: tuple[float, float] = (0.9, 0.99),
        test_episodes: int = 30,
        test_seeds: int = 4,
    ) -> None:
        super().__init__()
        if tokens not in ("stacked", "interleaved"):
            raise ValueError(f"tokens must be 'stacked' or 'interleaved', got {tokens!r}")
        if not hasattr(backbone, "step") or not hasattr(backbone, "config"):
            raise TypeError(f"backbone must be a litlab.attention Backbone, got {type(backbone).__name__}")
        self.save_hyperparameters(ignore=["backbone"])
        self.backbone = backbone
        self.io = nn.ModuleDict()
        if groups is not None:
            self._build(groups)

    @property
    def d_model(self) -> int:
        return int(self.backbone.config.dim)

    def _build(self, groups: dict[str, dict]) -> None:
        if not groups:
            raise ValueError("groups is empty: the agent needs at least one observation/action group")
        for name, spec in groups.items():
            if name not in self.io:
                self.io[name] = GroupIO(
                    GroupSpec.from_dict(spec), self.d_model, self.hparams.tokens, self.hparams.d_rew
                )
        self.hparams["groups"] = {k: dict(v) for k, v in groups.items()}

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        if self.hparams.groups is None and dm is not None and hasattr(dm, "groups"):
            self._build(dm.groups)
            self.io.to(self.device)
        if not len(self.io):
            raise ValueError("InContextAgent: no groups given and no DataModule with `groups` to take them from")

    def forward_group(self, group: str, b: dict[str, Tensor]) -> Tensor:
        """Action logits / actions [B, T, act_n] at every step of group `group`'s windows."""
        if group not in self.io:
            raise KeyError(f"group {group!r} has no encoder; the agent knows {sorted(self.io)}")
        io = self.io[group]
        if io.tokens == "stacked":
            h = self.backbone(io.encode(b["obs"], b["prev_act"], b["prev_rew"], b["step_num"]))
            return io.decode(h)
        h = self.backbone(io.encode_interleaved(b["obs"], b["act"], b["rew"]))
        return io.decode(h[:, 0::3])  # the o_t tokens predict a_t

    def loss(self, batch: dict[str, dict[str, Tensor]]) -> tuple[Tensor, dict]:
        """Mean over all sequences of the per-sequence action loss (each group through its own modules)."""
        per_seq, info = [], {}
        for group, b in batch.items():
            seq, gi = action_loss(self.io[group].spec, self.forward_group(group, b), b["target"])
            per_seq.append(seq)
            info.update({f"{k}/{group}": v for k, v in gi.items()})
        return torch.cat(per_seq).mean(), info

    def training_step(self, batch, batch_idx: int) -> Tensor:
        loss, info = self.loss(batch)
        n = sum(len(b["target"]) for b in batch.values())
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        for k, v in info.items():
            self.log(f"train/{k}", v, batch_size=n)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        loss, info = self.loss(batch)
        n = sum(len(b["target"]) for b in batch.values())
        self.log("val/loss", loss, prog_bar=True, batch_size=n)
        for k, v in info.items():
            self.log(f"val/{k}", v, batch_size=n)

    def rollout(self, item: dict, episodes: int | None = None, seeds: int | None = None) -> dict:
        episodes = episodes or self.hparams.test_episodes
        seeds = seeds or self.hparams.test_seeds
        return in_context_rollout(self, item["group"], item["family"], item["tasks"], episodes, seeds)

    def test_step(self, item: dict, batch_idx: int) -> None:
        """In-context rollouts on a batch of held-out tasks: return and normalized score against shots."""
        out = self.rollout(item)
        self._test_out.append(out)

    def on_test_epoch_start(self) -> None:
        self._test_out: list[dict] = []

    def on_test_epoch_end(self) -> None:
        norm = np.concatenate([o["normalized"] for o in self._test_out])  # (tasks, seeds, shots)
        rets = np.concatenate([o["returns"] for o in self._test_out])
        shots = norm.shape[2]
        for k in sorted({1, 2, 4, 8, 16, 32, 64, shots} & set(range(1, shots + 1))):
            self.log(f"test/return_shot{k}", float(rets[:, :, k - 1].mean()))
            self.log(f"test/normalized_iqm_shot{k}", iqm_bootstrap_ci(norm[:, :, k - 1], 500)[0])
        self.log("test/return_last", float(rets[:, :, -1].mean()))

    def predict_step(self, item: dict, batch_idx: int) -> list[dict]:
        """One row per (task, seed): its per-episode returns and normalized scores."""
        out = self.rollout(item)
        rows = []
        for i, task in enumerate(item["tasks"]):
            for s in range(out["returns"].shape[1]):
                rows.append({"group": item["group"], "task": task, "seed": s, "returns": out["returns"][i, s].tolist(),
                             "normalized": out["normalized"][i, s].tolist()})  # fmt: skip
        return rows

    def configure_optimizers(self):
        total = total_training_steps(self.trainer)
        groups = param_groups(self, self.hparams.weight_decay, decay_embeddings=False)
        return adamw_warmup_cosine(
            groups, lr=self.hparams.lr, total_steps=total, warmup_steps=int(self.hparams.warmup_ratio * total),
            min_lr_ratio=self.hparams.min_lr_ratio, betas=tuple(self.hparams.betas),
        )  # fmt: skip
