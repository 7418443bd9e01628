"""GRPO rollouts: per-row EOS stop, masks through the first EOS, truncation, and recurrent decoding that
matches the parallel forward (litlab's LM) and Hugging Face generate."""

import pytest
import torch

from litlab.alignment.generation import (
    Rollout,
    SamplingSettings,
    completion_masks,
    generate_rollout,
    litlab_sample,
    rollout_batch,
    sample_tokens,
)
from litlab.alignment.models import LitlabCausalLM
from litlab.attention import BackboneConfig

EOS, PAD, V = 1, 0, 12
GREEDY = SamplingSettings(temperature=0.0)


class ScriptedLM:
    """A stand-in CausalLM whose row r emits script[r][i] at step i (counts the decode steps)."""

    def __init__(self, script):
        self.script, self.steps = torch.tensor(script), 0
        self.backbone = self

    def init_state(self, batch):
        return 0

    def embed(self, ids):
        return ids

    def prefill(self, x, state):
        return x[:, :, None].float(), 0

    def step(self, x, state):
        self.steps += 1
        return x.float(), state + 1

    def logits(self, hidden):
        i = min(self.steps, self.script.shape[1] - 1)
        return torch.nn.functional.one_hot(self.script[:, i], V).float() * 10


def test_rows_stop_at_their_own_eos_and_decoding_ends_when_all_did():
    lm = ScriptedLM([[5, EOS, 7, 7, 7, 7], [5, 6, 7, EOS, 7, 7], [EOS, 9, 9, 9, 9, 9]])
    new = litlab_sample(lm, torch.zeros(3, 2, dtype=torch.long), 6, GREEDY, [EOS], PAD)
    assert new.tolist() == [[5, EOS, PAD, PAD], [5, 6, 7, EOS], [EOS, PAD, PAD, PAD]]
    assert lm.steps == 3  # four tokens: one from the prefill, three steps
    mask, terminated, lengths = completion_masks(new, [EOS], mask_truncated=False)
    assert mask.int().tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]
    assert terminated.all() and lengths.tolist() == [2, 4, 1]


def test_several_eos_ids_and_truncated_rows():
    tokens = torch.tensor([[5, 3, 7, 7], [5, 5, 5, 5], [2, 1, 3, 0]])
    for drop in (False, True):
        mask, terminated, lengths = completion_masks(tokens, [2, 3], mask_truncated=drop)
        assert terminated.tolist() == [True, False, True] and lengths.tolist() == [2, 4, 1]
        assert mask.int().tolist() == [[1, 1, 0, 0], [0 if drop else 1] * 4, [1, 0, 0, 0]]


def tiny_lm(pattern):
    torch.manual_seed(0)
    return LitlabCausalLM(V, BackboneConfig(dim=32, num_layers=2, num_heads=2, head_dim=16, pattern=pattern))


@pytest.mark.parametrize("pattern", ["L", "LS"])
def test_recurrent_greedy_decoding_matches_the_parallel_forward(pattern):
    policy = tiny_lm(pattern).eval()
    prompts = torch.randint(2, V, (3, 5), generator=torch.Generator().manual_seed(1))
    new = litlab_sample(policy.model, prompts, 7, GREEDY, [EOS], PAD)
    ids = prompts
    for _ in range(7):  # naive: full forward, argmax of the last position, no cache
        ids = torch.cat([ids, policy.model(ids)[:, -1].argmax(-1, keepdim=True)], 1)
    ref = ids[:, 5:]
    _, _, lengths = completion_masks(ref, [EOS], False)
    for r, n in enumerate(lengths.tolist()):
        assert new[r, :n].tolist() == ref[r, :n].tolist()


def test_rollout_groups_masks_and_training_batch():
    policy = tiny_lm("LS")
    prompts = [[3, 4, 5], [6, 7], [8, 9, 10]]
    g = torch.Generator().manual_seed(0)
    roll = generate_rollout(policy, prompts, 4, 6, SamplingSettings(1.0), [EOS, 2], PAD, generator=g)
    assert roll.completion_ids.shape == (12, 6) and roll.prompt_ids[4] == [6, 7] and policy.training
    mask, terminated, lengths = completion_masks(roll.completion_ids, [EOS, 2], False)
    assert torch.equal(mask, roll.completion_mask) and torch.equal(lengths, roll.lengths)
    after = ~mask & (torch.arange(6)[None] >= lengths[:, None])
    assert bool((roll.completion_ids[after] == PAD).all())
    batch = rollout_batch(roll, PAD)
    for r in range(12):
        p, n = len(roll.prompt_ids[r]), int(lengths[r])
        assert batch["input_ids"][r, :p].tolist() == roll.prompt_ids[r]
        assert batch["input_ids"][r, p : p + n].tolist() == roll.completion_ids[r, :n].tolist()
        assert batch["targets"][r, p - 1 : p - 1 + n].tolist() == roll.completion_ids[r, :n].tolist()
        assert int(batch["completion_mask"][r].sum()) == n and int(batch["attention_mask"][r].sum()) == p + n


def test_mask_truncated_completions_zero_the_training_labels():
    roll = Rollout([[3], [3]], torch.tensor([[5, EOS, PAD], [5, 5, 5]]), torch.tensor([[1, 1, 0], [0, 0, 0]]).bool(),
                   torch.tensor([True, False]), torch.tensor([2, 3]), 1.0)  # fmt: skip
    batch = rollout_batch(roll, PAD)
    assert batch["completion_mask"].int().tolist() == [[1, 1, 0, 0], [0, 0, 0, 0]]
    assert batch["input_ids"][1].tolist() == [3, 5, 5, 5]


def test_top_k_and_top_p_restrict_the_draws():
    logits = torch.tensor([[3.0, 2.9, 0.0, -1.0]]).repeat(400, 1)
    g = torch.Generator().manual_seed(0)
    assert set(sample_tokens(logits, SamplingSettings(1.0, top_k=2), g).tolist()) == {0, 1}
    assert set(sample_tokens(logits, SamplingSettings(1.0, top_p=0.3), g).tolist()) == {0}
    assert set(sample_tokens(logits, SamplingSettings(5.0), g).tolist()) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="top_p"):
        SamplingSettings(1.0, top_p=0.0)


def test_hf_generate_rows_stop_at_eos(tmp_path, tokenizer):
    from litlab.alignment.models import HFCausalLM
    from litlab.alignment.models.tiny_hf import make_tiny_llama

    folder = make_tiny_llama(tmp_path / "llama", tokenizer=tokenizer.name_or_path, hidden=32)
    policy = HFCausalLM(str(folder))
    prompts = [[10, 11, 12], [13, 14, 15]]
    greedy = generate_rollout(policy, prompts, 1, 5, GREEDY, [tokenizer.eos_token_id], tokenizer.pad_token_id)
    eos = int(greedy.completion_ids[0, 2])  # declare row 0's third greedy token an EOS: row 0 must stop there
    stopped = generate_rollout(policy, prompts, 1, 5, GREEDY, [eos], tokenizer.pad_token_id)
    assert stopped.terminated[0] and int(stopped.lengths[0]) <= 3 and stopped.completion_mask[0, 3:].sum() == 0
    first = int(stopped.lengths[0])
    assert stopped.completion_ids[0, :first].tolist() == greedy.completion_ids[0, :first].tolist()
    assert bool((stopped.completion_ids[0, first:] == tokenizer.pad_token_id).all())
