"""Hugging Face interop: litlab `CausalLM` <-> transformers `MiniMaxForCausalLM` / `LlamaForCausalLM`.

    from litlab.attention.hf import from_hf, to_hf, save_pretrained
    model = from_hf("path/to/minimax-or-llama-folder")        # runs on litlab's kernels
    config, state_dict = to_hf(model)                          # the same function in transformers
    model.save_pretrained("out", tokenizer=tok)                # AutoModelForCausalLM / AutoTokenizer folder

transformers is imported only when these functions run.
"""

from litlab.attention.hf.checks import check_exportable, choose_arch
from litlab.attention.hf.convert import from_hf, from_hf_state, hf_architecture, to_dtype, to_hf, to_hf_model
from litlab.attention.hf.minimax import minimax_slopes
from litlab.attention.hf.save import hf_tokenizer, save_pretrained

__all__ = [
    "check_exportable",
    "choose_arch",
    "from_hf",
    "from_hf_state",
    "hf_architecture",
    "hf_tokenizer",
    "minimax_slopes",
    "save_pretrained",
    "to_dtype",
    "to_hf",
    "to_hf_model",
]
