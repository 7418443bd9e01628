"""Training throughput: transformers' `MiniMaxForCausalLM` against the same model imported into litlab.

One MiniMax-architecture config (~145M parameters: hidden 768, 12 layers, 6 heads x 128, GQA with 2 kv heads,
softmax at layer 7 and lightning elsewhere (MiniMax-01's 7:1 rule), 4 SwiGLU experts of 768 with top-2, tied
vocab 32k, post-norm residual alpha = (2*12)^(1/4)) is built in transformers; `litlab.attention.hf.from_hf`
converts it (the same function, tests/test_hf.py) to a litlab `CausalLM` trained through
`LanguageModel.loss` (Triton lightning attention, fused chunked head + CE). Side by side in one process,
65,536 tokens per step (B = 65536 / T), fp32 weights under bf16 autocast, fused AdamW, median step time of
the timed steps after one warm-up step; only the model being measured sits on the GPU, so the peak memory
(max_memory_allocated over its steps) is its own. Every measurement is bounded: an OOM is reported as such,
and once `--budget_s` seconds have passed the remaining ones are skipped (reported "skipped").

    python benchmarks/attention/hf_minimax_train.py --out results/    # JSON lines + a markdown table
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

TOKENS = 65536
VOCAB = 32000


def hf_minimax():
    from transformers import MiniMaxConfig, MiniMaxForCausalLM

    layers = 12
    alpha = (2 * layers) ** 0.25
    cfg = MiniMaxConfig(
        vocab_size=VOCAB, hidden_size=768, intermediate_size=768, num_hidden_layers=layers, num_attention_heads=6,
        num_key_value_heads=2, head_dim=128, num_local_experts=4, num_experts_per_tok=2, tie_word_embeddings=True,
        layer_types=["full_attention" if (i + 1) % 8 == 0 else "linear_attention" for i in range(layers)],
        max_position_embeddings=TOKENS, block_size=256, rope_parameters={"rope_type": "default", "rope_theta": 1e6},
        **{f"{p}_alpha_factor": alpha for p in ("linear_attn", "full_attn", "mlp")},
    )  # fmt: skip
    torch.manual_seed(0)
    return MiniMaxForCausalLM._from_config(cfg, attn_implementation="sdpa")


def litlab_from(hf, compiled: bool):
    from litlab.attention import LanguageModel
    from litlab.attention.hf import from_hf

    model = from_hf(hf)
    module = LanguageModel(model.backbone.config, vocab_size=None, tie_embeddings=model.tie_embeddings)
    module.model = model
    if compiled:
        module.use_compile()
    return module


def make_step(model, loss_fn, seq_len: int):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=True)
    ids = torch.randint(0, VOCAB, (TOKENS // seq_len, seq_len + 1), device="cuda")

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = loss_fn(ids)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step, opt


def measure(step, steps: int, slow_s: float) -> dict:
    """Median tokens/s of `steps` timed steps after one warm-up (fewer when a step takes over slow_s seconds)."""
    torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(1 + steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        if times[-1] > slow_s and i >= 1:
            break
    timed = times[1:] or times
    return {"tokens_per_s": TOKENS / statistics.median(timed), "timed_steps": len(times) - 1,
            "first_s": times[0], "peak_GiB": torch.cuda.max_memory_allocated() / 2**30}  # fmt: skip


def run(name: str, model, loss_fn, t: int, args, start: float) -> dict:
    row = {"model": name, "T": t, "params_M": sum(p.numel() for p in model.parameters()) / 1e6}
    if time.perf_counter() - start > args.budget_s:
        return {**row, "status": "skipped"}
    model.cuda()
    try:
        step, opt = make_step(model, loss_fn, t)
        row.update(measure(step, args.steps, args.slow_s), status="ok")
        del step, opt
    except torch.OutOfMemoryError as err:
        row.update(status="OOM", error=str(err).splitlines()[0][:160])
    model.cpu()
    torch.cuda.empty_cache()
    return row


def table(rows: list[dict], lengths: list[int]) -> str:
    lines = ["| model | " + " | ".join(f"T = {t // 1024}K" for t in lengths) + " |", "|---|" + "---:|" * len(lengths)]
    for name in dict.fromkeys(r["model"] for r in rows):
        by_t = {r["T"]: r for r in rows if r["model"] == name}
        cells = []
        for t in lengths:
            r = by_t.get(t, {"status": "-"})
            ok = r["status"] == "ok"
            cells.append(f"{r['tokens_per_s'] / 1e3:.1f}k ({r['peak_GiB']:.1f} GiB)" if ok else r["status"])
        lines.append(f"| {name} ({next(iter(by_t.values()))['params_M']:.0f}M) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 16384])
    p.add_argument("--steps", type=int, default=3, help="timed steps per measurement (after one warm-up)")
    p.add_argument("--slow_s", type=float, default=15.0, help="stop a measurement after a step this slow")
    p.add_argument("--budget_s", type=float, default=170.0, help="skip measurements started after this many s")
    p.add_argument("--no_compile", action="store_true", help="leave out the compiled litlab variant")
    p.add_argument("--out", default=".")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    import transformers

    print(f"GPU {torch.cuda.get_device_name()}, torch {torch.__version__}, transformers {transformers.__version__}")
    start = time.perf_counter()
    hf = hf_minimax().train()
    eager = litlab_from(hf, compiled=False)
    models = {
        "litlab-eager": (eager, lambda ids: eager.loss(ids)[0]),
        "hf-minimax": (hf, lambda ids: hf(input_ids=ids[:, :-1], labels=ids[:, :-1]).loss),  # shifts inside
    }
    rows = []
    for t in args.lengths:  # litlab first at each T, so a slow transformers step cannot starve it
        for name, (model, loss_fn) in models.items():
            rows.append(run(name, model, loss_fn, t, args, start))
            print(json.dumps(rows[-1]), flush=True)
    if not args.no_compile:
        comp = litlab_from(hf, compiled=True)
        for t in args.lengths:
            rows.append(run("litlab-compiled", comp, lambda ids: comp.loss(ids)[0], t, args, start))
            print(json.dumps(rows[-1]), flush=True)
    with open(os.path.join(args.out, "hf_minimax_train.jsonl"), "a") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    print(table(rows, args.lengths))


if __name__ == "__main__":
    main()
