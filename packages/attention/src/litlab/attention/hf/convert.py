"""`to_hf` and `from_hf`: litlab `CausalLM` <-> transformers MiniMax / Llama causal LMs, the same function.

    config, state_dict = to_hf(model)        # MiniMaxConfig | LlamaConfig, transformers' in-memory names
    hf_model = to_hf_model(model)           # MiniMaxForCausalLM | LlamaForCausalLM with those weights
    model = from_hf("folder")               # a local transformers folder (or a loaded model) -> CausalLM

Nothing is downloaded: folders are read with `local_files_only=True`. Imported models run on litlab's
kernels (Triton lightning attention on GPU), so they train with `LanguageModel` and align as policies.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from litlab.attention.hf.checks import check_exportable, choose_arch
from litlab.attention.hf.llama import backbone_from_llama, llama_config, state_from_llama, state_to_llama
from litlab.attention.hf.minimax import backbone_from_minimax, minimax_config, state_from_minimax, state_to_minimax
from litlab.attention.models.causal_lm import CausalLM

SUPPORTED = ("minimax", "llama")


def to_hf(model: CausalLM, arch: str | None = None, block_size: int = 256, **config_kwargs):
    """(transformers config, state dict) of a litlab `CausalLM`.

    Args:
        model: the litlab model.
        arch: "minimax" or "llama"; None picks Llama for pre-norm dense softmax models, else MiniMax.
        block_size: MiniMax's lightning block size (its decay tables are sized by it; outputs do not depend on it).
        config_kwargs: extra config fields (bos/eos/pad token ids, max_position_embeddings, ...).

    Raises ValueError naming the litlab option when the target class cannot compute the same function.
    """
    if not isinstance(model, CausalLM):
        raise TypeError(f"to_hf expects a litlab CausalLM, got {type(model).__name__}")
    cfg = model.backbone.config
    arch = choose_arch(cfg) if arch is None else arch
    check_exportable(model, arch)
    sd = {k: v.detach() for k, v in model.state_dict().items()}
    if arch == "llama":
        config = llama_config(cfg, model.vocab_size, model.tie_embeddings, **config_kwargs)
        state = state_to_llama(sd, cfg, model.tie_embeddings)
    else:
        config = minimax_config(cfg, model.vocab_size, model.tie_embeddings, block_size=block_size, **config_kwargs)
        state = state_to_minimax(sd, cfg, model.tie_embeddings, block_size)
    return config, {k: v.contiguous().clone() for k, v in state.items()}


def to_hf_model(model: CausalLM, arch: str | None = None, **kwargs) -> nn.Module:
    """A transformers `MiniMaxForCausalLM` / `LlamaForCausalLM` holding the litlab model's weights (eval mode)."""
    from transformers import AutoModelForCausalLM

    if model.embed.weight.dtype == torch.float64:  # transformers' grouped_mm experts take no float64
        kwargs.setdefault("experts_implementation", "eager")
    config, state = to_hf(model, arch, **kwargs)
    hf = AutoModelForCausalLM.from_config(config, dtype=model.embed.weight.dtype)
    missing, unexpected = hf.load_state_dict(state, strict=False)
    if missing or unexpected:  # tied heads may be reported as missing by some versions; anything else is a bug
        missing = [k for k in missing if not (config.tie_word_embeddings and k == "lm_head.weight")]
        if missing or unexpected:
            raise RuntimeError(f"to_hf_model: state dict does not fit {type(hf).__name__}: missing {missing[:4]}, "
                               f"unexpected {unexpected[:4]}")  # fmt: skip
    return hf.eval()


def _arch_of(config) -> str:
    model_type = getattr(config, "model_type", None)
    if model_type not in SUPPORTED:
        raise ValueError(f"from_hf: model_type {model_type!r} is not supported (expected one of {SUPPORTED})")
    return model_type


def _backbone(config):
    return backbone_from_minimax(config) if _arch_of(config) == "minimax" else backbone_from_llama(config)


def hf_architecture(path: str | Path) -> tuple:
    """(BackboneConfig, vocab_size, tie_embeddings) of a local transformers folder (reads config.json only)."""
    from transformers import AutoConfig

    if not (Path(path) / "config.json").is_file():
        raise FileNotFoundError(f"hf_path: {str(path)!r} is not a local transformers folder (no config.json)")
    config = AutoConfig.from_pretrained(path, local_files_only=True)
    cfg, tie = _backbone(config)
    return cfg, int(config.vocab_size), tie


def from_hf_state(config, state: dict[str, torch.Tensor]) -> CausalLM:
    """A litlab `CausalLM` from a transformers config and its model's state dict (in-memory names)."""
    cfg, tie = _backbone(config)
    convert = state_from_minimax if _arch_of(config) == "minimax" else state_from_llama
    sd = convert(state, cfg, tie)
    model = CausalLM(config.vocab_size, cfg, tie)
    model.load_state_dict(sd, strict=True)
    return to_dtype(model, state["model.embed_tokens.weight"].dtype)


def to_dtype(model: CausalLM, dtype: torch.dtype) -> CausalLM:
    """Cast parameters to dtype, keeping the lightning slopes fp32 (the op's decay dtype; bf16 would round them)."""
    slopes = [(b.mixer, b.mixer.slopes.float()) for b in model.backbone.blocks
              if isinstance(getattr(b.mixer, "slopes", None), torch.Tensor)
              and not isinstance(b.mixer.slopes, nn.Parameter)]  # fmt: skip
    model.to(dtype)
    for mixer, s in slopes:
        mixer.slopes = s
    return model


def from_hf(source, dtype: torch.dtype | str | None = torch.float32) -> CausalLM:
    """A litlab `CausalLM` from a local transformers folder or a loaded MiniMax / Llama causal LM.

    Args:
        source: folder path (config.json + weights, read offline) or a `MiniMaxForCausalLM` / `LlamaForCausalLM`.
        dtype: parameter dtype of the litlab model (None or "auto": the checkpoint's).
    """
    if isinstance(source, (str, Path)):
        from transformers import AutoConfig, AutoModelForCausalLM

        path = Path(source)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"from_hf: {str(source)!r} is not a local transformers folder (no config.json)")
        _backbone(AutoConfig.from_pretrained(path, local_files_only=True))  # refuse before loading the weights
        source = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype="auto")
    state = {k: v.detach() for k, v in source.state_dict().items()}
    model = from_hf_state(source.config, state)
    if isinstance(dtype, str):
        dtype = None if dtype == "auto" else getattr(torch, dtype)
    return model if dtype is None else to_dtype(model, dtype)
