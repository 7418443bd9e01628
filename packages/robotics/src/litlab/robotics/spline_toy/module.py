"""The spline toy of FAST (arXiv 2501.09747, Sec. IV, Fig. 3): an autoregressive transformer predicts a
cubic spline from its four knots, with naive binning tokens or FAST tokens, at sampling rates T.

Claim under test: with binning, per-token information vanishes as T grows, so the model learns to copy
the previous token and the prediction error rises steeply; FAST keeps it low at every T.

Model: the four ``(x, y)`` points are projected to conditioning embeddings, followed by BOS and the action
tokens; ``litlab.attention.Backbone`` (softmax layers with RoPE) and a linear head predict the next token
(cross-entropy on action tokens and, for FAST, EOS). Evaluation is greedy decoding restricted to the
action ids (+ EOS for FAST), MSE against the true curve.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from litlab.attention import Backbone
from litlab.robotics.spline_toy.data import ActionCodec, spline_toy_batch
from litlab.shared.optim import adamw_warmup_cosine, check_schedule, total_training_steps

__all__ = ["SplineToyModel", "SplineToy"]


class SplineToyModel(nn.Module):
    """Points ``[B, 4, 2]`` + action tokens ``[B, L]`` -> next-token logits ``[B, L, V]``."""

    def __init__(self, vocab_size: int, dim: int = 128, num_layers: int = 2, num_heads: int = 4):
        super().__init__()
        self.point_proj = nn.Linear(2, dim)
        self.embed = nn.Embedding(vocab_size, dim)
        self.backbone = Backbone(dim, num_layers, num_heads, dim // num_heads, pattern="S")
        self.head = nn.Linear(dim, vocab_size, bias=False)

    def forward(self, points: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.point_proj(points), self.embed(tokens)], dim=1)  # (B, 4 + L, C)
        return self.head(self.backbone(x)[:, points.shape[1] :])  # (B, L, V)

    @torch.no_grad()
    def generate(self, points: torch.Tensor, bos: int, steps: int, allowed: torch.Tensor, eos: int | None):
        """Greedy decoding of up to ``steps`` tokens (stops early once every row emitted ``eos``)."""
        b = points.shape[0]
        state = self.backbone.init_state(b)
        start = torch.cat([self.point_proj(points), self.embed(torch.full((b, 1), bos, device=points.device))], 1)
        h, state = self.backbone.prefill(start, state)
        h = h[:, -1]
        out, done = [], torch.zeros(b, dtype=torch.bool, device=points.device)
        for _ in range(steps):
            logits = self.head(h).masked_fill(~allowed.to(h.device), float("-inf"))
            nxt = logits.argmax(-1)
            out.append(nxt)
            if eos is not None:
                done |= nxt == eos
                if done.all():
                    break
            h, state = self.backbone.step(self.embed(nxt), state)
        return torch.stack(out, 1).tolist()


class _Pool(Dataset):
    def __init__(self, points, curves):
        self.points, self.curves = points, curves

    def __len__(self):
        return len(self.curves)

    def __getitem__(self, i):
        return i


class SplineToy(L.LightningModule):
    """Train one tokenizer arm of the spline toy at one sampling rate; makes its own data.

    Args:
        tokenizer: ``"binning"`` (T tokens of 256 bins) or ``"fast"`` (scale 10, vocab 1024).
        horizon: number of samples T of the curve (the "sampling rate").
        n_train: size of the training pool (FAST is fitted on it).
        n_val: held-out curves for the greedy-decoding evaluation.
        batch_size: curves per step.
        dim: model width.
        num_layers: transformer layers.
        lr: peak AdamW learning rate (weight decay 0.01 on every parameter; linear warm-up, then cosine
            decay to 10% over the fit's optimizer steps, i.e. ``--trainer.max_steps``).
        warmup_steps: warm-up steps (shortened to end one step before a shorter run).
        seed: data seed (validation uses seed + 1, the test split of ``litlab test`` / ``predict`` seed + 2).
        n_test: held-out curves of the test split (MSE of greedy decoding; never seen in training or
            validation).
    """

    def __init__(
        self,
        tokenizer: str = "fast",
        horizon: int = 50,
        n_train: int = 4000,
        n_val: int = 128,
        batch_size: int = 16,
        dim: int = 128,
        num_layers: int = 2,
        lr: float = 1e-3,
        warmup_steps: int = 50,
        seed: int = 0,
        n_test: int = 128,
    ):
        super().__init__()
        check_schedule(lr=lr, warmup_steps=warmup_steps, min_lr_ratio=0.1)
        self.save_hyperparameters()
        self.train_points, self.train_curves = spline_toy_batch(n_train, horizon, seed)
        self.val_points, self.val_curves = spline_toy_batch(n_val, horizon, seed + 1)
        if n_test < 1:
            raise ValueError(f"n_test: got {n_test}, expected at least 1 test curve")
        self.test_points, self.test_curves = spline_toy_batch(n_test, horizon, seed + 2)
        self.codec = ActionCodec(tokenizer, horizon, self.train_curves)
        self.model = SplineToyModel(self.codec.vocab_size, dim, num_layers)
        # the training pool, tokenized once: points [N, 4, 2], teacher-forcing inputs/targets [N, L_max]
        # (PAD / -100 after a shorter sequence's end change nothing: attention is causal)
        self._pool = (torch.as_tensor(self.train_points, dtype=torch.float32), *self.codec.batch(self.train_curves))

    def on_fit_start(self):
        self._pool = tuple(t.to(self.device) for t in self._pool)  # index on the device, no host sync

    def training_step(self, idx, _):
        points, inp, tgt = (t[idx.to(t.device)] for t in self._pool)
        logits = self.model(points, inp)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), tgt.flatten())
        mask = tgt >= 0
        acc = ((logits.argmax(-1) == tgt) & mask).sum() / mask.sum()
        self.log_dict({"train/loss": loss, "train/token_acc": acc}, prog_bar=True)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"])
        return loss

    def _decode(self, knots: np.ndarray) -> tuple[list[list[int]], np.ndarray, int]:
        """Greedy generation from knots ``[n, 4, 2]``: (token ids, decoded curves ``[n, T]``, strict failures)."""
        points = torch.as_tensor(knots, dtype=torch.float32, device=self.device)
        eos = self.codec.eos if self.codec.kind == "fast" else None
        gen = self.model.generate(points, self.codec.bos, self.codec.budget, self.codec.allowed(), eos)
        return gen, *self.codec.decode(gen)

    def evaluate(self, n: int | None = None, split: str = "val") -> dict:
        """Greedy decoding on the held-out curves of ``split`` (val or test): MSE, strict failures, copy fractions."""
        knots, targets = (self.val_points, self.val_curves) if split == "val" else (self.test_points, self.test_curves)
        n = n or len(targets)
        eos = self.codec.eos if self.codec.kind == "fast" else None
        gen, curves, failures = self._decode(knots[:n])
        truth = self.codec.encode(targets[:n])
        copy = lambda seqs: np.mean([np.mean(np.diff(s) == 0) for s in seqs if len(s) > 1])  # noqa: E731
        gen_actions = [s[: s.index(self.codec.eos)] if self.codec.eos in s else s for s in gen]
        return {
            "mse": float(np.mean((curves - targets[:n]) ** 2)),
            "decode_failures": failures / n,
            "copy_frac_pred": float(copy(gen_actions)),
            "copy_frac_true": float(copy([s[:-1] if eos is not None else s for s in truth])),
        }

    def validation_step(self, idx, _):
        if idx[0] == 0:
            self.log_dict({f"val/{k}": v for k, v in self.evaluate().items()})

    def test_step(self, idx, _):
        """``litlab test``: the metrics of :meth:`evaluate` on the test split (seed + 2), logged under ``test/``."""
        if idx[0] == 0:
            self.log_dict({f"test/{k}": v for k, v in self.evaluate(split="test").items()})

    def predict_step(self, idx, _) -> list[dict]:
        """``litlab predict``: one row per test curve (knots, decoded curve, target, its MSE, tokens generated)."""
        idx = idx.tolist()
        gen, curves, _ = self._decode(self.test_points[idx])
        rows = []
        for i, g, curve in zip(idx, gen, curves):
            target = self.test_curves[i]
            rows.append({"index": i, "knots": self.test_points[i].tolist(), "prediction": curve.tolist(),
                         "target": target.tolist(), "mse": float(np.mean((curve - target) ** 2)),
                         "tokens": g.index(self.codec.eos) if self.codec.eos in g else len(g)})  # fmt: skip
        return rows

    def test_dataloader(self):
        return DataLoader(_Pool(self.test_points, self.test_curves), batch_size=len(self.test_curves))

    def predict_dataloader(self):
        return DataLoader(_Pool(self.test_points, self.test_curves), batch_size=self.hparams.batch_size)

    def train_dataloader(self):
        return DataLoader(
            _Pool(self.train_points, self.train_curves), self.hparams.batch_size, shuffle=True, drop_last=True
        )

    def val_dataloader(self):
        return DataLoader(_Pool(self.val_points, self.val_curves), len(self.val_curves))

    def configure_optimizers(self):
        groups = [{"params": [p for p in self.parameters() if p.requires_grad], "weight_decay": 0.01}]
        return adamw_warmup_cosine(
            groups, lr=self.hparams.lr, total_steps=total_training_steps(self.trainer),
            warmup_steps=self.hparams.warmup_steps, min_lr_ratio=0.1, betas=(0.9, 0.95),
        )  # fmt: skip
