"""GRPO rollout speed: generation tokens/s and GRPO step time, side by side in one run (no Lightning).

Three policies of one width and depth (lightning layers add an output gate: 175M vs 167M parameters at the
defaults), random weights, built here (nothing downloaded):
    lightning   litlab CausalLM, every layer lightning attention: one prefill, then an O(1) recurrent step
                per token (fp32 state [B, H, d, d]), through `litlab.alignment.generation.generate_rollout`
    softmax     litlab CausalLM, every layer softmax attention (RoPE, KV cache), same path
    hf          the softmax model exported to a transformers LlamaForCausalLM (same weights,
                `litlab.attention.hf.to_hf`), decoded by its own `generate` (KV cache) through `HFCausalLM`
and, when `trl` imports, TRL's `GRPOTrainer` on the same HF Llama (same G, prompts per step, lengths).

A GRPO step here is one rollout (P prompts x G completions of exactly L new tokens: the EOS id is one the
models never sample, TRL gets min_new_tokens = L) plus one update: per-token log-probs of the completions
(`chunked_token_logps`, no [B, T, V] logits), the dapo loss of `grpo_loss` with beta 0 and one iteration per
generation (so no old or reference forward, as TRL then), backward over micro-batches, AdamW. Times are
medians over repetitions (CUDA-synchronised host clock); TRL's is the median of its steps after the first,
timed by a callback.

    python benchmarks/alignment/grpo_rollout_speed.py --out results.jsonl               # on the GPU
    python benchmarks/alignment/grpo_rollout_speed.py --tiny --out /tmp/r.jsonl         # CPU check
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import traceback
from pathlib import Path

import torch

from litlab.alignment.generation import SamplingSettings, generate_rollout, rollout_batch
from litlab.alignment.logprobs import chunked_token_logps
from litlab.alignment.losses import grpo_advantages, grpo_loss
from litlab.alignment.models import HFCausalLM, LitlabCausalLM
from litlab.attention import BackboneConfig


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def build_policies(args, device: torch.device, dtype: torch.dtype, folder: Path) -> dict:
    """{name: policy}: lightning and softmax litlab LMs of one size, and the softmax one as an HF Llama."""
    out = {}
    for name, pattern in (("lightning", "L"), ("softmax", "S")):
        torch.manual_seed(0)
        cfg = BackboneConfig(dim=args.dim, num_layers=args.layers, num_heads=args.dim // args.head_dim,
                             head_dim=args.head_dim, pattern=pattern)  # fmt: skip
        out[name] = LitlabCausalLM(args.vocab, cfg, tie_embeddings=False).to(device, dtype)
    out["softmax"].model.save_pretrained(str(folder))  # a LlamaForCausalLM folder with the same weights
    out["hf"] = HFCausalLM(str(folder), dtype=str(dtype).removeprefix("torch.")).to(device)
    return out


def make_prompts(args) -> list[list[int]]:
    g = torch.Generator().manual_seed(1)
    return torch.randint(1, args.vocab - 1, (args.prompts, args.prompt_len), generator=g).tolist()


def token_logps(policy, batch: dict) -> torch.Tensor:
    hidden = policy.hidden_states(batch["input_ids"], batch["attention_mask"])
    weight, bias, transform = policy.output_head()
    return chunked_token_logps(hidden.to(weight.dtype), weight, batch["targets"], bias, transform)


def update(policy, opt, roll, args) -> None:
    """One GRPO update on a rollout (random rewards: the cost does not depend on them)."""
    train = rollout_batch(roll, pad_id=0)
    rewards = torch.rand(args.prompts, args.generations, generator=torch.Generator().manual_seed(2))
    adv = grpo_advantages(rewards).flatten().to(train["input_ids"].device)
    n, items = train["input_ids"].shape[0], float(train["completion_mask"].sum())
    for s in range(0, n, args.micro_batch):
        micro = {k: v[s : s + args.micro_batch] for k, v in train.items()}
        logp = token_logps(policy, micro)
        loss, _ = grpo_loss(logp, None, None, adv[s : s + args.micro_batch], micro["completion_mask"],
                            loss_type="dapo", num_items=items)  # fmt: skip
        loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def timed_step(policy, opt, prompts, length: int, args, seed: int) -> tuple[float, float, int]:
    """(generation seconds, update seconds, new tokens) of one GRPO step."""
    g = torch.Generator(device=args.device).manual_seed(seed)
    sync()
    t0 = time.perf_counter()
    roll = generate_rollout(policy, prompts, args.generations, length, SamplingSettings(1.0), [args.vocab], 0,
                            generator=g)  # EOS = an id outside the vocabulary: never sampled, rows run to L
    sync()
    t1 = time.perf_counter()
    update(policy, opt, roll, args)
    sync()
    return t1 - t0, time.perf_counter() - t1, int(roll.lengths.sum())


def bench_policy(name: str, policy, prompts, length: int, args, warm: set) -> dict:
    """Generation tokens/s and GRPO step time of one policy at completion length `length` (medians)."""
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-6)
    if name not in warm:  # compilation, autotuning, allocator: one short step per policy
        timed_step(policy, opt, prompts, 32, args, seed=99)
        warm.add(name)
    reps = args.reps if length <= 1024 else args.reps_long
    gen, upd, tokens = zip(*(timed_step(policy, opt, prompts, length, args, seed=r) for r in range(reps)))
    g_s, u_s = statistics.median(gen), statistics.median(upd)
    return dict(policy=name, completion_length=length, rows=len(prompts) * args.generations, new_tokens=tokens[0],
                gen_s=g_s, gen_tokens_per_s=tokens[0] / g_s, update_s=u_s, step_s=g_s + u_s, reps=reps,
                peak_gib=torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0)  # fmt: skip


def write_word_tokenizer(folder: Path, vocab: int) -> None:
    """A word-level tokenizer 't0' .. 't{V-1}' (whitespace split) for TRL's text interface."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({f"t{i}": i for i in range(vocab)}, unk_token="t1"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="t1", pad_token="t0", eos_token=f"t{vocab - 1}")
    fast.save_pretrained(str(folder))


def bench_trl(folder: Path, prompts, length: int, args) -> dict:
    """TRL GRPOTrainer on the HF Llama folder: median step time over steps 2.. (step 1 warms up)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    class Clock(TrainerCallback):
        def __init__(self):
            self.times, self.t0 = [], 0.0

        def on_step_begin(self, *a, **k):
            sync()
            self.t0 = time.perf_counter()

        def on_step_end(self, *a, **k):
            sync()
            self.times.append(time.perf_counter() - self.t0)

    tok = AutoTokenizer.from_pretrained(str(folder))
    texts = [" ".join(f"t{i}" for i in p) for p in prompts]
    data = Dataset.from_dict({"prompt": texts * (args.reps + 2)})
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.bfloat16 if args.device == "cuda" else None)
    cfg = GRPOConfig(
        output_dir=str(folder / "trl"), per_device_train_batch_size=args.prompts * args.generations,
        num_generations=args.generations, max_completion_length=length, max_steps=args.reps + 1,
        learning_rate=1e-6, beta=0.0, loss_type="dapo", temperature=1.0, logging_steps=1, report_to="none",
        save_strategy="no", bf16=args.device == "cuda", use_cpu=args.device == "cpu", disable_tqdm=True,
        generation_kwargs={"min_new_tokens": length}, shuffle_dataset=False, dataloader_num_workers=0,
    )  # fmt: skip
    clock = Clock()
    trainer = GRPOTrainer(model=model, reward_funcs=lambda completions, **kw: [float(len(c) % 7) for c in completions],
                          args=cfg, train_dataset=data, processing_class=tok, callbacks=[clock])  # fmt: skip
    trainer.train()
    logged = [h for h in trainer.state.log_history if "completions/mean_length" in h]
    mean_len = statistics.mean(h["completions/mean_length"] for h in logged) if logged else float("nan")
    step = statistics.median(clock.times[1:]) if len(clock.times) > 1 else clock.times[0]
    own = [h["step_time"] for h in trainer.state.log_history if "step_time" in h]
    return dict(policy="trl", completion_length=length, rows=args.prompts * args.generations,
                trl_mean_completion_length=mean_len, step_s=step, step_times=clock.times, trl_step_time=own)


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="JSONL file, one row per (policy, length), appended as measured")
    p.add_argument("--lengths", type=int, nargs="+", default=[1024, 256, 4096])
    p.add_argument("--trl-lengths", type=int, nargs="*", default=[1024, 256])
    p.add_argument("--policies", nargs="+", default=["lightning", "softmax", "hf"])
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--prompts", type=int, default=4, help="prompts per step P")
    p.add_argument("--generations", type=int, default=8, help="completions per prompt G")
    p.add_argument("--prompt-len", type=int, default=128)
    p.add_argument("--micro-batch", type=int, default=8, help="completion rows per forward/backward")
    p.add_argument("--reps", type=int, default=2, help="timed steps per length <= 1024 (after one warm-up step)")
    p.add_argument("--reps-long", type=int, default=1, help="timed steps per length > 1024")
    p.add_argument("--tiny", action="store_true", help="CPU check: dim 64, 2 layers, vocab 512, lengths 8/16")
    args = p.parse_args(argv)
    args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.tiny:
        args.dim, args.layers, args.head_dim, args.vocab, args.prompt_len = 64, 2, 32, 512, 8
        args.lengths, args.trl_lengths, args.prompts, args.generations = [16, 8], [8], 2, 4
    return args


def main(argv=None) -> None:
    args = parse(argv)
    device, dtype = torch.device(args.device), torch.bfloat16 if args.device == "cuda" else torch.float32
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="grpo-speed-"))
    policies, prompts, rows, warm = build_policies(args, device, dtype, folder), make_prompts(args), [], set()
    n_params = sum(p.numel() for p in policies["lightning"].parameters())
    print(f"device {torch.cuda.get_device_name() if args.device == 'cuda' else 'cpu'}, torch {torch.__version__}, "
          f"params {n_params / 1e6:.1f}M, P {args.prompts} x G {args.generations}, prompt {args.prompt_len}")
    write_word_tokenizer(folder, args.vocab)
    jobs = [(L, name) for L in args.lengths for name in args.policies + (["trl"] if L in args.trl_lengths else [])]
    for length, name in jobs:
        try:
            if name == "trl":
                row = bench_trl(folder, prompts, length, args)
            else:
                row = bench_policy(name, policies[name], prompts, length, args, warm)
        except Exception as exc:  # one failing arm (e.g. TRL's wheels) must not lose the others
            traceback.print_exc()
            row = dict(policy=name, completion_length=length, error=f"{type(exc).__name__}: {exc}"[:300])
        row.update(dim=args.dim, layers=args.layers, vocab=args.vocab, params_m=round(n_params / 1e6, 1))
        rows.append(row)
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    print(f"\n{'policy':10s} {'L':>5s} {'gen tok/s':>10s} {'gen s':>7s} {'update s':>8s} {'step s':>7s}")
    for r in sorted(rows, key=lambda r: (r["completion_length"], r["policy"])):
        if "error" in r:
            print(f"{r['policy']:10s} {r['completion_length']:5d} error: {r['error'][:60]}")
            continue
        print(f"{r['policy']:10s} {r['completion_length']:5d} {r.get('gen_tokens_per_s', float('nan')):10.0f} "
              f"{r.get('gen_s', float('nan')):7.2f} {r.get('update_s', float('nan')):8.2f} {r['step_s']:7.2f}")


if __name__ == "__main__":
    main()
