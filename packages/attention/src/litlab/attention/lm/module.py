"""`LanguageModel`: next-token training of a `CausalLM` with Lightning.

loss = CE(logits_t, x_{t+1}) + aux_coef * sum_layers aux_moe (Switch Transformer, arXiv 2101.03961 Eq. 4);
validation and test perplexity exp(mean CE) through torchmetrics (`litlab test`: the held-out test split);
AdamW (arXiv 1711.05101) with linear warmup and cosine decay (`litlab.shared.optim`); tokens/s, achieved
TFLOP/s and MFU logged per step; a generated text sample at the end of every validation; `litlab predict`
writes one completion per prompt of the data's `predict_file`.

Training computes the CE fused with the LM head in chunks (`lm/cross_entropy.py`: no [N, V] fp32 logits);
validation forms the logits (for perplexity). `compile` wraps the blocks and the CE chunk in
`torch.compile` (by default on CUDA only), which fuses the token-wise work around the attention kernels.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics.text import Perplexity

from litlab.attention.layers.ffn import MoE
from litlab.attention.lm.cross_entropy import linear_cross_entropy
from litlab.attention.lm.flops import flops_per_token, peak_flops
from litlab.attention.models.causal_lm import CausalLM
from litlab.attention.models.config import BackboneConfig
from litlab.shared.optim import adamw_warmup_cosine, check_schedule, param_groups, total_training_steps

log = logging.getLogger(__name__)


class LanguageModel(L.LightningModule):
    """Causal LM on lightning / softmax / hybrid backbones.

    Args:
        backbone: the layer stack (dim, num_layers, num_heads, head_dim, pattern, ffn, ...).
        vocab_size: tokens V, linked from the DataModule's tokenizer by the ``litlab`` command; None (in
            Python) takes it from the attached datamodule at setup.
        tie_embeddings: share input embedding and output head.
        lr: peak learning rate.
        weight_decay: AdamW decay of the weight matrices (norms, slopes and SSMax scales are not decayed).
        betas: AdamW betas.
        warmup_steps: linear warmup steps.
        min_lr_ratio: final learning rate as a fraction of `lr` (cosine decay over the run).
        aux_loss_coef: weight of the MoE load-balancing loss.
        sample_prompt: prompt of the text sample generated at each validation end ("" disables it).
        sample_tokens: tokens generated for that sample.
        sample_temperature: its sampling temperature (0 = greedy).
        peak_tflops: accelerator peak for MFU; None looks the GPU up (no MFU on CPU).
        compile: torch.compile the blocks and the fused CE at fit start; None: on for CUDA (not with FSDP),
            off on CPU.
        ce_chunk_size: tokens per chunk of the fused head + cross-entropy (memory vs launch count).
        hf_path: a local transformers MiniMax or Llama folder to start from (`litlab.attention.hf.from_hf`):
            it sets backbone (leave it unset), vocab_size, tie_embeddings and the initial weights; a given
            vocab_size (the data's tokenizer) must fit the imported embedding.
    """

    def __init__(
        self,
        backbone: BackboneConfig | None = None,
        vocab_size: int | None = None,
        tie_embeddings: bool = True,
        lr: float = 3e-3,
        weight_decay: float = 0.1,
        betas: tuple[float, float] = (0.9, 0.95),
        warmup_steps: int = 50,
        min_lr_ratio: float = 0.1,
        aux_loss_coef: float = 0.01,
        sample_prompt: str = "def ",
        sample_tokens: int = 64,
        sample_temperature: float = 0.0,
        peak_tflops: float | None = None,
        compile: bool | None = None,
        ce_chunk_size: int = 8192,
        hf_path: str | None = None,
    ) -> None:
        super().__init__()
        if hf_path is not None:
            if backbone is not None:
                raise ValueError(f"LanguageModel.hf_path={hf_path!r} sets the backbone; leave backbone unset")
            from litlab.attention.hf import hf_architecture

            tokens = vocab_size  # the data's tokenizer (linked), which must fit the imported embedding
            backbone, vocab_size, tie_embeddings = hf_architecture(hf_path)
            if tokens is not None and tokens > vocab_size:
                raise ValueError(f"vocab_size={tokens} (the data's tokenizer) exceeds the {vocab_size} rows of "
                                 f"the embedding of hf_path={hf_path!r}")  # fmt: skip
        if not isinstance(backbone, BackboneConfig):  # None, or a dict from a checkpoint / the CLI
            backbone = BackboneConfig(**dict(backbone or {}))
        self.config = backbone
        check_schedule(lr=lr, warmup_steps=warmup_steps, min_lr_ratio=min_lr_ratio, weight_decay=weight_decay)
        if ce_chunk_size < 1:
            raise ValueError(f"ce_chunk_size must be >= 1, got {ce_chunk_size}")
        self._compiled = False
        backbone = asdict(self.config)  # saved as a plain dict (hparams.yaml, checkpoints)
        self.save_hyperparameters()
        if hf_path is not None:  # under LightningCLI the hparams are the given config: record what hf_path set
            self.hparams.update(backbone=backbone, vocab_size=vocab_size, tie_embeddings=tie_embeddings)
        self.model: CausalLM | None = None
        self.val_ppl = Perplexity()
        self.test_ppl = Perplexity()
        self._step_start: float | None = None
        if vocab_size is not None:
            self.configure_model()

    # ---- model -------------------------------------------------------------------------------------
    def configure_model(self) -> None:
        if self.model is not None:
            return
        vocab = self.hparams.vocab_size
        if vocab is None:
            dm = self.trainer.datamodule if self._trainer is not None else None
            if dm is None or not hasattr(dm, "vocab_size"):
                raise ValueError("LanguageModel.vocab_size is None and no datamodule with a tokenizer is attached")
            vocab = dm.vocab_size
            self.hparams.vocab_size = vocab
        if self.hparams.get("hf_path") is not None:
            from litlab.attention.hf import from_hf

            self.model = from_hf(self.hparams.hf_path)
        else:
            self.model = CausalLM(vocab, self.config, self.hparams.tie_embeddings)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        hp = checkpoint.get("hyper_parameters") or {}
        if hp.get("hf_path") is not None:  # the weights are in the checkpoint: reloading needs no HF folder
            hp["hf_path"] = None

    def save_pretrained(self, folder, tokenizer=None, merge_lora: bool = True, **kwargs):
        """Export the model as a transformers folder (`CausalLM.save_pretrained`; merge_lora does not apply)."""
        self.configure_model()
        return self.model.save_pretrained(folder, tokenizer=tokenizer, **kwargs)

    def use_compile(self, **compile_kwargs) -> None:
        """torch.compile the blocks (`Backbone.compile_blocks(**compile_kwargs)`) and, with the default
        backend, the chunked CE's elementwise part."""
        self.configure_model()
        self.model.backbone.compile_blocks(**compile_kwargs)
        self._compiled = compile_kwargs.get("backend", "inductor") == "inductor"

    def on_fit_start(self) -> None:
        enabled = self.hparams.compile
        # auto: measured 1.65x on one H200 (benchmarks/attention/HISTORY.md); not tried under sharding
        if enabled is None:
            sharded = "fsdp" in type(self.trainer.strategy).__name__.lower()
            enabled = self.device.type == "cuda" and not sharded
        if enabled:
            log.info("LanguageModel: compiling the blocks and the cross-entropy chunk (torch.compile)")
            self.use_compile()

    def forward(self, input_ids: Tensor) -> Tensor:
        return self.model(input_ids)

    def loss(self, batch: Tensor, with_logits: bool = False) -> tuple[Tensor, dict[str, Tensor], Tensor | None, Tensor]:
        """(total loss, metrics, logits or None, targets) of a batch of windows [B, T + 1].

        Without `with_logits` the CE is fused with the head in chunks (`linear_cross_entropy`), so the
        [B, T, V] logits are never formed and None is returned in their place.
        """
        if batch.dim() != 2 or batch.shape[1] < 2:
            raise ValueError(f"batch must be token ids [B, T + 1] with T >= 1, got {tuple(batch.shape)}")
        inputs, targets = batch[:, :-1], batch[:, 1:]
        if with_logits:
            logits = self.model(inputs)
            ce = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
        else:
            logits, hidden = None, self.model.hidden_states(inputs).flatten(0, 1)
            ce = linear_cross_entropy(
                hidden, self.model.head_weight, targets.flatten(), self.hparams.ce_chunk_size, self._compiled
            )
        metrics = {"ce": ce.detach()}
        loss = ce
        if self.config.ffn == "moe":
            aux = self.model.backbone.aux_loss()
            loss = loss + self.hparams.aux_loss_coef * aux
            metrics["aux_loss"] = aux.detach()
        return loss, metrics, logits, targets

    # ---- steps -------------------------------------------------------------------------------------
    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        loss, metrics, _, _ = self.loss(batch)
        self.log("train/loss", loss, prog_bar=True)
        self.log_dict({f"train/{k}": v for k, v in metrics.items()})
        if self.config.ffn == "moe":
            loads = torch.stack([b.ffn.expert_load for b in self.model.backbone.blocks if isinstance(b.ffn, MoE)])
            self.log_dict({f"train/expert_load/{e}": x for e, x in enumerate(loads.mean(0))})
        self.log("train/lr", self.optimizers().param_groups[0]["lr"] if self._trainer else 0.0)
        return loss

    def on_train_batch_start(self, batch: Tensor, batch_idx: int) -> None:
        self._step_start = time.perf_counter()

    def on_train_batch_end(self, outputs, batch: Tensor, batch_idx: int) -> None:
        if self._step_start is None:
            return
        if batch.is_cuda:
            torch.cuda.synchronize(batch.device)
        tokens = batch.shape[0] * (batch.shape[1] - 1)
        tok_s = tokens / max(time.perf_counter() - self._step_start, 1e-9)
        flops = flops_per_token(self.config, self.model.vocab_size, batch.shape[1] - 1) * tok_s
        self.log("train/tokens_per_s", tok_s, prog_bar=True)
        self.log("train/tflops", flops / 1e12)
        peak = peak_flops(batch.device, self.hparams.peak_tflops)
        if peak is not None:
            self.log("train/mfu", flops / peak)

    def validation_step(self, batch: Tensor, batch_idx: int) -> None:
        loss, metrics, logits, targets = self.loss(batch, with_logits=True)
        self.val_ppl.update(logits.float(), targets)
        self.log("val/loss", metrics["ce"], prog_bar=True, sync_dist=True)
        self.log("val/ppl", self.val_ppl, prog_bar=True)

    def test_step(self, batch: Tensor, batch_idx: int) -> None:
        """Test CE and perplexity exp(mean CE) over every target token of the held-out test split."""
        loss, metrics, logits, targets = self.loss(batch, with_logits=True)
        self.test_ppl.update(logits.float(), targets)
        self.log("test/loss", metrics["ce"], sync_dist=True, batch_size=targets.numel())
        self.log("test/ppl", self.test_ppl)

    def predict_step(self, prompt: str, batch_idx: int) -> list[dict]:
        """One completion (`sample_tokens` new tokens at `sample_temperature`, seeded) of one text prompt."""
        dm = self.trainer.datamodule
        if dm is None or not hasattr(dm, "encode"):
            raise ValueError("LanguageModel.predict needs a datamodule with a tokenizer (TextDataModule)")
        ids, new = self.generate_ids(dm, prompt, self.hparams.sample_tokens)
        return [{"prompt": prompt, "completion": dm.decode(new), "prompt_tokens": len(ids), "new_tokens": len(new)}]

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking or not self.hparams.sample_prompt or not self.trainer.is_global_zero:
            return
        dm = self.trainer.datamodule
        if dm is None or not hasattr(dm, "encode"):
            return
        text = self.sample(dm, self.hparams.sample_prompt, self.hparams.sample_tokens)
        self.print(f"\n--- sample at step {self.global_step} ---\n{text}\n---")
        logger = self.logger
        if logger is not None and hasattr(logger.experiment, "add_text"):
            logger.experiment.add_text("val/sample", f"```\n{text}\n```", self.global_step)
        if self.trainer.log_dir:
            with open(os.path.join(self.trainer.log_dir, "samples.txt"), "a") as f:
                f.write(f"--- step {self.global_step} ---\n{text}\n")

    def sample(self, datamodule, prompt: str, max_new_tokens: int) -> str:
        """Generate from a text prompt with the datamodule's tokenizer; returns prompt + continuation."""
        ids, new = self.generate_ids(datamodule, prompt, max_new_tokens)
        return datamodule.decode(ids + new)

    @torch.no_grad()
    def generate_ids(self, datamodule, prompt: str, max_new_tokens: int) -> tuple[list[int], list[int]]:
        """(prompt ids, generated ids) of one seeded generation (top-k 50, `sample_temperature`)."""
        ids = datamodule.encode(prompt) or [datamodule.eos_token_id]
        x = torch.tensor([ids], device=self.device)
        gen = torch.Generator(device=self.device).manual_seed(0)
        out = self.model.generate(
            x,
            max_new_tokens,
            self.hparams.sample_temperature,
            top_k=50,
            generator=gen,
            eos_token_id=datamodule.eos_token_id,
        )
        return ids, out[0].tolist()[len(ids) :]

    # ---- optimisation ------------------------------------------------------------------------------
    def configure_optimizers(self):
        """AdamW, decay on matrices only (embeddings included; norms, slopes, SSMax scales excluded), fused
        on CUDA; linear warmup then cosine to `min_lr_ratio` over the fit's optimizer steps."""
        hp = self.hparams
        return adamw_warmup_cosine(
            param_groups(self.model, hp.weight_decay), lr=hp.lr, total_steps=total_training_steps(self.trainer),
            warmup_steps=hp.warmup_steps, min_lr_ratio=hp.min_lr_ratio, betas=tuple(hp.betas),
            fused=self.device.type == "cuda",
        )  # fmt: skip
