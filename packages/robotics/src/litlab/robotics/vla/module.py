"""VLAModule: trains a TinyVLA arm (FAST tokens, binning tokens or the flow head) on a VLADataModule.

Logs (train/ and val/): ``ce`` and ``action_token_accuracy`` (token arms) or ``flow_mse``; on validation
also the strict ``decode_failure_rate`` and the chunk ``mae`` of greedy predictions (normalized units).
``litlab test`` runs closed-loop episodes on held-out seeds (``test/success_rate`` with a 95% Wilson
interval, per-chunk latency, tokens per chunk); ``litlab predict`` writes one JSON line per episode
(seed, success, return, steps, final distance) to ``<log_dir>/episodes.jsonl``. The processor is saved in
every checkpoint and checked against the data module's statistics when a checkpoint is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np
import torch

from litlab.robotics.vla.configuration import VLAConfig
from litlab.robotics.vla.ema import EMA
from litlab.robotics.vla.modeling import make_policy
from litlab.robotics.vla.processor import VLAProcessor
from litlab.robotics.vla.rollout import evaluate_closed_loop, wilson_interval
from litlab.shared.optim import adamw_warmup_cosine, param_groups, total_training_steps

__all__ = ["VLAModule", "read_checkpoint", "load_policy"]
CKPT_KEY = "vla_processor"


class VLAModule(L.LightningModule):
    """LightningModule around :class:`TinyVLA` / :class:`TinyVLAFlow`; sizes come from the data module.

    Args:
        head: "tokens" (FAST or binning, as the data module's processor says) or "flow".
        patch, dim, num_layers, num_heads, pattern, n_action_steps, restrict_decode, flow_steps: see
            :class:`VLAConfig`.
        lr, weight_decay, warmup_steps, min_lr_ratio, betas: AdamW with warm-up + cosine (litlab.shared.optim).
        ema_decay: keep an EMA of the weights and evaluate with it (e.g. 0.999); None: off.
        decode_batches: validation batches that are also greedily decoded (strict) for the failure rate.
    """

    def __init__(self, head: str = "tokens", patch: int = 8, dim: int = 128, num_layers: int = 4,
                 num_heads: int = 4, pattern: str = "S", n_action_steps: int | None = None,
                 restrict_decode: bool = True, flow_steps: int = 10, lr: float = 3e-4, weight_decay: float = 0.0,
                 warmup_steps: int = 100, min_lr_ratio: float = 0.1, betas: tuple[float, float] = (0.9, 0.95),
                 ema_decay: float | None = None, decode_batches: int = 1):
        super().__init__()
        self.save_hyperparameters()
        if lr <= 0 or decode_batches < 0:
            raise ValueError(f"need lr > 0 and decode_batches >= 0, got {lr}, {decode_batches}")
        self.policy = None
        self.ema: EMA | None = None
        self.env_kwargs: dict = {}
        self._episodes: list[dict] = []

    # ---- model ------------------------------------------------------------------------------------
    def build(self, processor: VLAProcessor, image_size: int, token_lengths=None, decode_budget=None) -> None:
        h = self.hparams
        if h.head == "tokens" and processor.kind == "continuous":
            raise ValueError("head='tokens' needs data.action_tokens 'fast' or 'binning', got 'continuous'")
        cfg = VLAConfig(h.head, image_size, h.patch, h.dim, h.num_layers, h.num_heads, h.pattern,
                        h.n_action_steps, h.restrict_decode, h.flow_steps)
        budget = decode_budget or processor.decode_budget(token_lengths)
        kw = {"decode_budget": budget} if h.head == "tokens" else {}
        self.policy = make_policy(cfg, processor, **kw)
        if h.ema_decay is not None:
            self.ema = EMA(self.policy, h.ema_decay)

    def configure_model(self) -> None:
        if self.policy is not None:
            return
        dm = self.trainer.datamodule if self._trainer is not None else None
        if dm is None or not hasattr(dm, "prepare_processor"):
            raise ValueError(f"VLAModule needs a VLADataModule (it owns the processor), got {type(dm).__name__}")
        proc = dm.prepare_processor()
        dm.setup("fit")
        self.env_kwargs = dm.env_kwargs
        self.build(proc, self.env_kwargs["image_size"], dm.train_token_lengths())

    # ---- checkpoints ------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        path = getattr(self.trainer, "ckpt_path", None)
        if path and Path(str(path)).suffix == ".ckpt":
            read_checkpoint(path)  # refuse a damaged or foreign file with a clear error before Lightning loads it

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[CKPT_KEY] = self.policy.processor.to_dict()
        checkpoint["vla_env"] = dict(self.env_kwargs)
        checkpoint["vla_decode_budget"] = getattr(self.policy, "decode_budget", None)
        if self.ema is not None:
            checkpoint["vla_ema"] = self.ema.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if CKPT_KEY not in checkpoint:
            raise ValueError(f"checkpoint has no '{CKPT_KEY}' entry: it was not written by VLAModule (or is damaged)")
        saved = VLAProcessor.from_dict(checkpoint[CKPT_KEY], where="checkpoint processor")
        dm = self.trainer.datamodule if self._trainer is not None else None
        if dm is not None and getattr(dm, "dataset", None) is not None:
            saved.check_stats(dm.dataset.stats, where=f"dataset {dm.hparams.root}")
        if self.policy is not None and saved.to_dict() != self.policy.processor.to_dict():
            raise ValueError("checkpoint processor (tokenizers) differs from the data module's; pass "
                             "data.processor=<folder saved with the checkpoint's processor>")
        if self.ema is not None and "vla_ema" in checkpoint:
            self.ema.load_state_dict(checkpoint["vla_ema"], self.device)

    # ---- training ---------------------------------------------------------------------------------
    def training_step(self, batch: dict, batch_idx: int):
        loss, info = self.policy(batch)
        self.log_dict({f"train/{k}": v for k, v in info.items()}, prog_bar=True, batch_size=len(batch["task"]))
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        if self.ema is not None:
            self.ema.update(self.policy)

    def _eval_policy(self):
        return self.ema.applied(self.policy) if self.ema is not None else _Same(self.policy)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        with self._eval_policy() as policy:
            _, info = policy(batch)
            if batch_idx < self.hparams.decode_batches:
                info |= self._decode_metrics(policy, batch)
        self.log_dict({f"val/{k}": v for k, v in info.items()}, prog_bar=True, batch_size=len(batch["task"]))

    def _decode_metrics(self, policy, batch: dict) -> dict:
        target = batch["action"].float()
        if self.hparams.head == "flow":
            pred = policy.predict_action_chunk(batch)
            return {"mae": (pred - target).abs().mean()}
        pred = policy.predict_action_chunk(batch, decode_mode="strict").to(target.device)
        ok = policy.last_decode.valid.to(target.device)
        mae = (pred[ok] - target[ok]).abs().mean() if ok.any() else target.new_tensor(float("nan"))
        return {"decode_failure_rate": (~ok).float().mean(), "mae": mae,
                "decoded_tokens": policy.last_decode.lengths.float().mean()}

    def configure_optimizers(self):
        h = self.hparams
        return adamw_warmup_cosine(param_groups(self.policy, h.weight_decay), lr=h.lr, betas=h.betas,
                                   total_steps=total_training_steps(self.trainer), warmup_steps=h.warmup_steps,
                                   min_lr_ratio=h.min_lr_ratio)

    # ---- closed loop: test and predict ------------------------------------------------------------
    def _rollouts(self, seeds: torch.Tensor) -> dict:
        with self._eval_policy() as policy:
            policy.eval()
            return evaluate_closed_loop(policy, seeds.tolist(), **self.env_kwargs)

    def on_test_epoch_start(self) -> None:
        self._episodes = []

    def test_step(self, batch, batch_idx: int) -> None:
        self._episodes.append(self._rollouts(batch[0]))

    def on_test_epoch_end(self) -> None:
        self.log_dict(summarize(self._episodes), sync_dist=False)

    def predict_step(self, batch, batch_idx: int) -> list[dict]:
        out = self._rollouts(batch[0])
        return [{"seed": int(s), "success": bool(k), "return": float(r), "steps": int(n), "final_distance": float(d)}
                for s, k, r, n, d in zip(out["seeds"], out["success"], out["return"], out["steps"],
                                         out["final_distance"])]

    def on_predict_epoch_end(self) -> None:
        rows = [r for batch in self.trainer.predict_loop.predictions for r in batch]
        folder = Path(self.trainer.log_dir or self.trainer.default_root_dir)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "episodes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def read_checkpoint(path) -> dict:
    """torch.load a VLAModule checkpoint (CPU), refusing unreadable files and checkpoints without a processor."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # truncated zip, pickle garbage, ...: all mean the same thing to the user
        raise ValueError(f"checkpoint {path} cannot be read (truncated or not a checkpoint): "
                         f"{type(e).__name__}: {e}") from e
    if not isinstance(ckpt, dict) or CKPT_KEY not in ckpt or "state_dict" not in ckpt:
        raise ValueError(f"checkpoint {path} has no '{CKPT_KEY}' or 'state_dict': not written by VLAModule")
    VLAProcessor.from_dict(ckpt[CKPT_KEY], where=f"checkpoint {path}")  # raises on edited statistics
    return ckpt


def load_policy(path, device: str | torch.device = "cpu", use_ema: bool = True):
    """The policy of a VLAModule checkpoint (EMA weights if saved), without a Trainer; returns (policy, env_kwargs)."""
    ckpt = read_checkpoint(path)
    module = VLAModule(**ckpt["hyper_parameters"])
    proc = VLAProcessor.from_dict(ckpt[CKPT_KEY])
    module.env_kwargs = ckpt["vla_env"]
    module.build(proc, ckpt["vla_env"]["image_size"], decode_budget=ckpt.get("vla_decode_budget"))
    module.load_state_dict(ckpt["state_dict"])
    policy = module.policy
    if use_ema and "vla_ema" in ckpt:
        with torch.no_grad():
            for p, s in zip(policy.parameters(), ckpt["vla_ema"]["shadow"]):
                p.copy_(s)
    return policy.to(device).eval(), ckpt["vla_env"]


def summarize(results: list[dict], prefix: str = "test/") -> dict:
    """Success rate, its Wilson 95% interval, latency and decode statistics of rollout results."""
    success = np.concatenate([r["success"] for r in results])
    lo, hi = wilson_interval(int(success.sum()), len(success))
    lat = np.concatenate([r["chunk_latency_s"] for r in results])
    chunks = sum(r["chunks"] for r in results)
    out = {"success_rate": float(success.mean()), "success_ci_low": lo, "success_ci_high": hi,
           "episodes": float(len(success)), "chunk_latency_ms": float(np.median(lat) * 1e3)}
    if chunks:
        toks = np.concatenate([r["tokens_per_chunk"] for r in results])
        out |= {"tokens_per_chunk": float(toks.mean()),
                "rollout_strict_failure_rate": 1.0 - sum(r["strict_valid_chunks"] for r in results) / chunks}
    return {prefix + k: v for k, v in out.items()}


class _Same:
    def __init__(self, module):
        self.module = module

    def __enter__(self):
        return self.module

    def __exit__(self, *exc):
        return False
