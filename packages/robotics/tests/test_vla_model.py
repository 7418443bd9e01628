import pytest
import torch
import torch.nn.functional as F

from litlab.robotics.data.chunks import ActionChunkDataset
from litlab.robotics.data.lerobot_v3 import LeRobotV3Dataset
from litlab.robotics.vla import TinyVLA, TinyVLAFlow, VLAConfig, VLAProcessor
from litlab.robotics.vla.batching import VLACollate
from litlab.robotics.vla.processor import ACTION_OFFSET, BAR, PAD, TEXT_OFFSET

CFG = dict(image_size=32, patch=8, dim=32, num_layers=2, num_heads=2)


@pytest.fixture(scope="module")
def data(vla_dataset):
    return LeRobotV3Dataset(vla_dataset())


def _batch(data, proc, n=4):
    items = ActionChunkDataset(data, horizon=10, split="train", stride=7)
    return VLACollate(proc)([items[i] for i in range(n)])


@pytest.mark.parametrize("kind", ["fast", "binning"])
def test_loss_covers_the_postfix_only(data, kind):
    torch.manual_seed(0)
    proc = VLAProcessor.from_dataset(data, kind, horizon=10, fast_vocab=300)
    model = TinyVLA(VLAConfig(**CFG, pattern="LS"), proc)
    batch = _batch(data, proc)
    loss, info = model(batch)
    # independent form: run the whole sequence, score every postfix token from the position before it
    pre, post = model.prefix(batch), batch["postfix_ids"]
    p = pre.shape[1]
    h = model.backbone(torch.cat([pre, model.embed(post)], 1), prefix_len=p)
    logp = F.log_softmax(model.lm_head(h), -1)
    terms = [-logp[b, p - 1 + i, post[b, i]] for b in range(len(post)) for i in range(post.shape[1])
             if post[b, i] != PAD]
    assert torch.allclose(loss, torch.stack(terms).mean(), atol=1e-5)
    assert all(row[row != PAD][-2:].tolist() == [BAR, 2] for row in post)  # terminator and EOS are scored
    assert 0 <= info["action_token_accuracy"] <= 1
    loss.backward()
    assert model.stem.net[0].weight.grad.abs().sum() > 0  # the image reaches the loss


def test_restricted_greedy_decode_never_emits_a_non_action_id(data):
    torch.manual_seed(0)
    proc = VLAProcessor.from_dataset(data, "fast", horizon=10, fast_vocab=300)
    model = TinyVLA(VLAConfig(**CFG), proc).eval()
    with torch.no_grad():  # make text ids the model's favourite output
        model.lm_head.weight[TEXT_OFFSET : TEXT_OFFSET + 200] += 5 * model.lm_head.weight[ACTION_OFFSET:].std()
        model.lm_head.weight[TEXT_OFFSET : TEXT_OFFSET + 200] *= 50
    batch = _batch(data, proc)
    free = model.generate(batch, restrict=False, budget=20)
    assert (~proc.is_action(free) & (free != BAR) & (free != PAD)).any()  # unrestricted it does emit them
    ids = model.generate(batch, restrict=True, budget=40)
    for row in ids.tolist():
        end = row.index(BAR) if BAR in row else len(row)
        assert all(ACTION_OFFSET <= t < proc.vocab_size for t in row[:end])
        assert all(t == PAD for t in row[end + 1 :])


@pytest.mark.parametrize("pattern", ["S", "LS"])
def test_cached_greedy_decode_equals_argmax_of_the_full_forward(data, pattern):
    torch.manual_seed(1)
    proc = VLAProcessor.from_dataset(data, "binning", horizon=10)
    model = TinyVLA(VLAConfig(**CFG, pattern=pattern), proc).eval()
    batch = _batch(data, proc, 2)
    ids = model.generate(batch, restrict=True, budget=6)
    pre = model.prefix(batch)
    p = pre.shape[1]
    with torch.no_grad():
        h = model.backbone(torch.cat([pre, model.embed(ids[:, :-1])], 1), prefix_len=p)
        logits = model.lm_head(h[:, p - 1 :]).masked_fill(~model.allowed, float("-inf"))
    assert torch.equal(logits.argmax(-1), ids)


class _Chunks(TinyVLAFlow):
    """predict_action_chunk returns chunk k (values 100 k + step) on its k-th call."""

    calls = 0

    def predict_action_chunk(self, batch):
        self.calls += 1
        steps = torch.arange(self.horizon, dtype=torch.float32)
        return (100 * self.calls + steps)[None, :, None].expand(2, -1, self.action_dim).clone()


def test_action_queue_behaves_as_lerobots(data):
    proc = VLAProcessor.from_dataset(data, "continuous", horizon=10)
    policy = _Chunks(VLAConfig(**CFG, head="flow", n_action_steps=3), proc)
    got = [policy.select_action({})[0, 0].item() for _ in range(7)]
    # LeRobot: the queue holds the first n_action_steps actions of a chunk, popped left; empty -> new chunk
    assert got == [100, 101, 102, 200, 201, 202, 300] and policy.calls == 3
    policy.reset()  # a new episode drops what is left of chunk 3 and plans again
    assert policy.select_action({})[0, 0].item() == 400
    with pytest.raises(ValueError, match="exceeds the chunk horizon"):
        TinyVLAFlow(VLAConfig(**CFG, head="flow", n_action_steps=11), proc)


def test_flow_loss_and_euler_integration(data, monkeypatch):
    torch.manual_seed(0)
    proc = VLAProcessor.from_dataset(data, "continuous", horizon=10)
    model = TinyVLAFlow(VLAConfig(**CFG, head="flow", flow_steps=4), proc)
    batch = _batch(data, proc)
    a = batch["action"]
    monkeypatch.setattr(model, "velocity_field", lambda pre, x, t: torch.zeros_like(x))
    torch.manual_seed(5)
    loss, _ = model(batch)
    torch.manual_seed(5)
    x0 = torch.randn_like(a)
    assert torch.allclose(loss, ((a - x0) ** 2).mean())  # target velocity a - x0
    # the exact field towards a target, (a - x) / (1 - t), reaches it in any number of Euler steps
    target = torch.rand_like(a) * 1.6 - 0.8
    monkeypatch.setattr(model, "velocity_field", lambda pre, x, t: (target - x) / (1 - t[:, None, None]))
    assert torch.allclose(model.predict_action_chunk(batch), target, atol=1e-5)
    monkeypatch.undo()
    loss, info = model(batch)
    loss.backward()
    assert torch.isfinite(loss) and model.slot_pos.grad.abs().sum() > 0
    assert model.predict_action_chunk(batch).shape == a.shape
