"""`litlab export` of LanguageModel, SFTModule and PreferenceAligner checkpoints, reloaded with transformers offline;
training from an imported transformers folder (`hf_path`); `load_from_checkpoint` from a plain call.

Each run fits 2 steps at tiny sizes; the exported folder must load with `AutoModelForCausalLM` /
`AutoTokenizer` (local files only) and give the trained module's logits (fp32, rel <= 1e-5) and greedy tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("transformers")

from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from litlab.shared.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CPU = str(ROOT / "configs/trainer/cpu.yaml")
QUIET = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", "--trainer.log_every_n_steps=1",
         "--trainer.max_steps=2", "--trainer.val_check_interval=2", "--trainer.limit_val_batches=1"]  # fmt: skip
pytestmark = pytest.mark.slow


def rel(a, b) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def fit(root: Path, configs: list[str], *extra: str) -> Path:
    args = [x for c in [CPU, *configs] for x in ("--config", c)]
    main(["fit", *args, "--run_name", "r", "--trainer.default_root_dir", str(root), *QUIET, *extra])
    ckpt = root / "r" / "version_0" / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    return ckpt


def export(ckpt: Path, out: Path, *extra: str) -> Path:
    assert main(["export", "--ckpt", str(ckpt), "--out", str(out), *extra]) == 0
    return out


def check_folder(out: Path, model, prompt: str, hidden_logits) -> None:
    """The folder loads offline and computes the module's logits and greedy continuation."""
    hf = AutoModelForCausalLM.from_pretrained(out, local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        assert rel(hidden_logits(ids), hf(ids).logits) <= 1e-5
        ours = model.generate(ids, max_new_tokens=6, eos_token_id=tok.eos_token_id)[0].tolist()
    theirs = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, do_sample=False)[0].tolist()
    assert _until_eos(ours, tok.eos_token_id) == _until_eos(theirs, tok.eos_token_id)


def _until_eos(ids: list[int], eos: int) -> list[int]:
    return ids[: ids.index(eos) + 1] if eos in ids else ids


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for i in range(6):
        (root / f"f{i}.py").write_text(f"def f{i}(x):\n    return x + {i}\n\n" * 30)
    return root


LM = ["--model.init_args.backbone.dim=32", "--model.init_args.backbone.num_layers=2",
      "--model.init_args.backbone.num_heads=2", "--model.init_args.backbone.head_dim=16",
      "--model.init_args.sample_tokens=4", "--data.init_args.seq_len=32", "--data.init_args.batch_size=2",
      "--data.init_args.bpe_vocab_size=300"]  # fmt: skip


def test_export_language_model_llama(corpus, tmp_path):
    from litlab.attention import LanguageModel

    data = [f"--data.init_args.source={corpus}/*.py", f"--data.init_args.cache_dir={tmp_path}/cache"]
    ckpt = fit(tmp_path, [str(ROOT / "configs/attention/lm-softmax.yaml")], *LM, *data)
    out = export(ckpt, tmp_path / "hf")  # the tokenizer is found in the run folder
    assert json.loads((out / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
    module = LanguageModel.load_from_checkpoint(ckpt, map_location="cpu").eval()
    check_folder(out, module.model, "def f1(x):", module.model)


def test_export_refuses_prenorm_lightning(corpus, tmp_path, capsys):
    data = [f"--data.init_args.source={corpus}/*.py", f"--data.init_args.cache_dir={tmp_path}/cache"]
    ckpt = fit(tmp_path, [str(ROOT / "configs/attention/lm-lightning.yaml")], *LM, *data)
    with pytest.raises(SystemExit) as err:
        main(["export", "--ckpt", str(ckpt), "--out", str(tmp_path / "hf")])
    assert err.value.code == 1 and "residual='prenorm'" in capsys.readouterr().err


def _minimax_folder(path: Path, tokenizer, vocab: int) -> Path:
    """A tiny random transformers MiniMax folder (lightning + softmax + MoE) with a tokenizer."""
    from transformers import MiniMaxForCausalLM

    from litlab.attention.hf import hf_tokenizer
    from litlab.attention.hf.testing import minimax_config, randomize

    cfg = minimax_config(vocab_size=vocab, num_hidden_layers=3,
                         layer_types=["linear_attention", "full_attention", "linear_attention"])
    randomize(MiniMaxForCausalLM(cfg), std=0.05).save_pretrained(path)
    hf_tokenizer(tokenizer).save_pretrained(path)
    return path


def test_train_from_hf_minimax_then_export(corpus, tmp_path):
    """LanguageModel(hf_path=MiniMax folder) trains on litlab's kernels; the checkpoint exports back to MiniMax."""
    from litlab.attention import LanguageModel
    from litlab.attention.data.tokenizer import train_bpe

    tok = train_bpe([p.read_text() for p in corpus.glob("*.py")], 300)
    src = _minimax_folder(tmp_path / "src", tok, 320)
    recipe = {"model": {"class_path": "LanguageModel", "init_args": {"hf_path": str(src), "sample_tokens": 4}},
              "data": {"class_path": "TextDataModule", "init_args": {
                  "source": f"{corpus}/*.py", "tokenizer": str(src / "tokenizer.json"), "seq_len": 32,
                  "batch_size": 2, "cache_dir": str(tmp_path / "cache")}}}  # fmt: skip
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    ckpt = fit(tmp_path, [str(tmp_path / "r.yaml")])
    hp = torch.load(ckpt, map_location="cpu", weights_only=False)["hyper_parameters"]
    assert hp["hf_path"] is None and hp["backbone"]["residual"] == "minimax_postnorm"
    out = export(ckpt, tmp_path / "hf")
    module = LanguageModel.load_from_checkpoint(ckpt, map_location="cpu").eval()
    start = AutoModelForCausalLM.from_pretrained(src, local_files_only=True)
    assert not torch.equal(start.model.embed_tokens.weight, module.model.embed.weight)  # it trained
    check_folder(out, module.model, "def f2(x):", module.model)


# ---- alignment -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def task_dir(tmp_path_factory) -> Path:
    from alignment_fixtures import write_arithmetic_task

    return write_arithmetic_task(tmp_path_factory.mktemp("arith"), n_train=16, n_val=4, n_eval=2, n_test=2)


def _align(path: Path, module: str, task_dir: Path, policy: dict, tokenizer: Path) -> str:
    data = {"data_dir": str(task_dir), "tokenizer": str(tokenizer), "batch_size": 4, "max_new_tokens": 4,
            "task": {"n_train": 16, "n_val": 4, "n_eval": 2, "n_test": 2}, "chosen_only": module == "SFTModule"}
    over = {"model": {"class_path": module, "init_args": {"eval_prompts": 1, "warmup_steps": 1, "policy": policy}},
            "data": {"class_path": "PreferenceDataModule", "init_args": data}}  # fmt: skip
    path.write_text(yaml.safe_dump(over))
    return str(path)


def test_export_sft_from_hf_minimax(task_dir, tmp_path):
    """SFT of an imported MiniMax folder (LitlabCausalLM(hf_path)); export and a plain load_from_checkpoint."""
    from litlab.alignment import SFTModule
    from litlab.alignment.data.tokenizer import load_tokenizer

    src = _minimax_folder(tmp_path / "src", load_tokenizer(task_dir / "tokenizer"), 400)
    policy = {"class_path": "LitlabCausalLM", "init_args": {"hf_path": str(src), "vocab_size": None, "backbone": None}}
    over = _align(tmp_path / "o.yaml", "SFTModule", task_dir, policy, task_dir / "tokenizer")
    ckpt = fit(tmp_path, [str(ROOT / "configs/alignment/sft.yaml"), over])
    module = SFTModule.load_from_checkpoint(ckpt, map_location="cpu").eval()  # no policy argument needed
    out = export(ckpt, tmp_path / "hf")
    model = module.policy.model
    check_folder(out, model, "3 + 4 =", model)


def test_export_preference_aligner_hf_lora(task_dir, tmp_path):
    """A LoRA HF policy exports merged (default) or as the adapter alone; both reload with AutoModelForCausalLM."""
    from litlab.alignment import PreferenceAligner
    from litlab.alignment.models.tiny_hf import make_tiny_llama

    base = make_tiny_llama(tmp_path / "tiny", tokenizer=task_dir / "tokenizer", hidden=32, layers=2)
    policy = {"class_path": "HFCausalLM", "init_args": {"path": str(base), "lora": {"r": 4, "alpha": 8}}}
    over = _align(tmp_path / "o.yaml", "PreferenceAligner", task_dir, policy, base)
    ckpt = fit(tmp_path, [str(ROOT / "configs/alignment/smpo-hf.yaml"), over])
    module = PreferenceAligner.load_from_checkpoint(ckpt, map_location="cpu").eval()
    ids = torch.tensor([[5, 9, 11, 7, 3]])
    with torch.no_grad():
        want = module.policy.model(input_ids=ids).logits
    for extra in ([], ["--adapters"]):
        out = export(ckpt, tmp_path / f"hf{len(extra)}", *extra)
        assert (out / "adapter_config.json").exists() == bool(extra)
        hf = AutoModelForCausalLM.from_pretrained(out, local_files_only=True).eval()
        AutoTokenizer.from_pretrained(out, local_files_only=True)
        with torch.no_grad():
            assert rel(hf(input_ids=ids).logits, want) <= 1e-5
