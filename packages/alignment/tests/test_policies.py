"""Policy adapters: litlab CausalLM and tiny HF models (built from a config in a temp folder, no downloads)
give the same label log-probs through the chunked head as their own full logits; checkpoints; LoRA."""

import pytest
import torch

from litlab.alignment.logprobs import chunked_token_logps
from litlab.alignment.models import HFCausalLM, LitlabCausalLM, LoraSettings
from litlab.alignment.models.hf import head_transform
from litlab.attention import BackboneConfig

TINY = BackboneConfig(dim=32, num_layers=2, num_heads=2, head_dim=16, pattern="LS")


def adapter_logps(policy, ids):
    targets = torch.roll(ids, -1, 1)
    targets[:, -1] = -100
    hidden = policy.hidden_states(ids, torch.ones_like(ids))
    w, b, tr = policy.output_head()
    return chunked_token_logps(hidden, w, targets, b, tr, token_chunk=5, vocab_chunk=7), targets


def reference_logps(logits, targets):
    lp = logits.float().log_softmax(-1).gather(-1, targets.clamp(min=0)[..., None])[..., 0]
    return lp * (targets != -100)


@pytest.fixture(scope="module")
def hf_folders(tmp_path_factory):
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    out = {}
    torch.manual_seed(0)
    for name, model in (
        ("llama", LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32,
                                               num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                               max_position_embeddings=64))),
        ("gpt2", GPT2LMHeadModel(GPT2Config(vocab_size=50, n_embd=16, n_layer=2, n_head=2, n_positions=64,
                                            bos_token_id=0, eos_token_id=1))),
    ):  # fmt: skip
        folder = tmp_path_factory.mktemp(name)
        model.save_pretrained(folder)
        out[name] = folder
    return out


@pytest.mark.parametrize("name", ["llama", "gpt2"])
def test_hf_adapter_matches_full_logits(hf_folders, name):
    from transformers import AutoModelForCausalLM

    policy = HFCausalLM(str(hf_folders[name]))
    full = AutoModelForCausalLM.from_pretrained(hf_folders[name], local_files_only=True).eval()
    ids = torch.randint(0, 50, (2, 9))
    got, targets = adapter_logps(policy, ids)
    torch.testing.assert_close(got, reference_logps(full(ids).logits, targets), rtol=1e-5, atol=1e-5)
    assert policy.generate(ids[:, :4], 3, 0.0, [1]).shape == (2, 3)


def test_hf_lora_trains_adapters_only_and_reference_is_the_base(hf_folders):
    pytest.importorskip("peft")
    policy = HFCausalLM(str(hf_folders["llama"]), lora=LoraSettings(r=2, target_modules=["q_proj", "v_proj"]))
    trainable = [n for n, p in policy.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    with torch.no_grad():
        for n, p in policy.named_parameters():
            if "lora_B" in n:
                p.add_(0.5)  # make the adapters act
    ids = torch.randint(0, 50, (2, 7))
    plain = HFCausalLM(str(hf_folders["llama"]))
    with policy.adapters_disabled():
        ref, _ = adapter_logps(policy, ids)
    torch.testing.assert_close(ref, adapter_logps(plain, ids)[0])
    assert not torch.allclose(adapter_logps(policy, ids)[0], ref)
    with pytest.raises(ValueError, match="output head"):
        HFCausalLM(str(hf_folders["llama"]), lora=LoraSettings(r=2, target_modules=["q_proj", "lm_head"]))


def test_hf_head_transforms_from_config_and_bad_paths(tmp_path):
    class Cfg:
        final_logit_softcapping = 30.0
        logit_scale = 0.5
        logits_scaling = 4.0

    tr = head_transform(Cfg())
    assert (tr.softcap, tr.logit_scale) == (30.0, 0.125)
    with pytest.raises(FileNotFoundError, match="local model folder"):
        HFCausalLM(str(tmp_path / "missing"))


def test_litlab_adapter_matches_causal_lm_and_loads_checkpoints(tmp_path):
    torch.manual_seed(0)
    policy = LitlabCausalLM(vocab_size=40, backbone=TINY)
    ids = torch.randint(0, 40, (3, 10))
    got, targets = adapter_logps(policy, ids)
    torch.testing.assert_close(got, reference_logps(policy.model(ids), targets), rtol=1e-5, atol=1e-5)
    # a Lightning-style checkpoint of an SFT run (keys under policy.model.)
    state = {"state_dict": {f"policy.model.{k}": v for k, v in policy.model.state_dict().items()}}
    torch.save(state, tmp_path / "sft.ckpt")
    torch.manual_seed(1)
    loaded = LitlabCausalLM(vocab_size=40, backbone=TINY, checkpoint=str(tmp_path / "sft.ckpt"))
    torch.testing.assert_close(adapter_logps(loaded, ids)[0], got)
    with pytest.raises(ValueError, match="does not fit the policy"):
        LitlabCausalLM(vocab_size=41, backbone=TINY, checkpoint=str(tmp_path / "sft.ckpt"))
    with pytest.raises(ValueError, match="matches the policy under none"):
        LitlabCausalLM(
            vocab_size=40,
            backbone=BackboneConfig(dim=32, num_layers=1, num_heads=2, head_dim=16),
            checkpoint=str(tmp_path / "sft.ckpt"),
        )
    assert policy.generate(ids[:, :3], 4, 0.0, [0]).shape[0] == 3
