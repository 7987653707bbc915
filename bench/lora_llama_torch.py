#!/usr/bin/env python3
"""PyTorch column of bench/lora_llama.ts: transformers LlamaForCausalLM from a LlamaConfig of the
same sizes (random init, bf16 weights, SDPA attention), PEFT LoRA with the same r / alpha / target
modules, one training step (forward + backward, labels = inputs, no optimizer) on the same
deterministic batch of token ids; median of `steps` steps after one warm-up, tokens/s and
torch.cuda.max_memory_allocated over the timed steps.
Usage: python3 bench/lora_llama_torch.py '<json {name, config, bench, lora}>'  (written by bench/lora_llama.ts).
Runs on CUDA when available, else on the CPU (only sensible for the --tiny shape).
Prints progress on stderr (lines start with 'lora_llama_torch:') and one JSON line on stdout."""
import json
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

spec = json.loads(sys.argv[1])
cfg_dict, bench, lora = spec["config"], spec["bench"], spec["lora"]
cuda = torch.cuda.is_available()
dev = torch.device("cuda" if cuda else "cpu")
dtype = torch.bfloat16


def log(*a):
    print("lora_llama_torch:", *a, file=sys.stderr, flush=True)


def token_batch(vocab, batch, seq):
    """Same ids as bench/lora_llama.ts's tokenBatch (one LCG over all rows)."""
    s = 1234
    rows = []
    for _ in range(batch):
        row = []
        for _ in range(seq):
            s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
            row.append(2 + s % (vocab - 2))
        rows.append(row)
    return torch.tensor(rows, device=dev)


def sync():
    if cuda:
        torch.cuda.synchronize()


cfg = LlamaConfig(**{k: v for k, v in cfg_dict.items() if k != "model_type"})
cfg._attn_implementation = "sdpa"
torch.manual_seed(0)
t0 = time.perf_counter()
torch.set_default_dtype(dtype)  # weights made in bf16 directly (an 8B model in f32 first would need 32 GB more)
with dev:
    model = LlamaForCausalLM(cfg)
torch.set_default_dtype(torch.float32)
n_base = sum(p.numel() for p in model.parameters())
log(f"{spec['name']}: {n_base / 1e9:.3f} B parameters ({dtype}, {cfg._attn_implementation}) built in {time.perf_counter() - t0:.1f} s on {dev}")
pm = get_peft_model(model, LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"], bias="none",
                                      use_rslora=lora["rslora"], target_modules=lora["targets"]))
pm.train()
n_lora = sum(p.numel() for p in pm.parameters() if p.requires_grad)
log(f"LoRA r {lora['r']} alpha {lora['alpha']} on {','.join(lora['targets'])}: {n_lora / 1e6:.1f} M trainable")
ids = token_batch(cfg.vocab_size, bench["batch"], bench["seq"])
mask = torch.ones_like(ids)


def step():
    out = pm(input_ids=ids, attention_mask=mask, labels=ids)
    out.loss.backward()
    for p in pm.parameters():
        p.grad = None
    return float(out.loss)


loss = step()
sync()
log(f"warm-up step: loss {loss:.4f}")
if cuda:
    torch.cuda.reset_peak_memory_stats()
ts = []
for _ in range(bench["steps"]):
    t0 = time.perf_counter()
    step()
    sync()
    ts.append(time.perf_counter() - t0)
s = sorted(ts)[len(ts) // 2]
tokens = bench["batch"] * bench["seq"]
rows = {"step_ms": s * 1000, "tokens_per_s": tokens / s}
if cuda:
    rows["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
log(f"steps {[round(t * 1000) for t in ts]} ms, {tokens / s:.0f} tokens/s" + (f", peak {rows['peak_gib']:.2f} GiB" if cuda else ""))
print(json.dumps({
    "device": torch.cuda.get_device_name(0) if cuda else "cpu",
    "rows": rows,
    "notes": {"train": f"transformers + PEFT, bf16, {cfg._attn_implementation} attention, {n_lora / 1e6:.1f} M LoRA"},
    "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__, "peft": __import__("peft").__version__},
}))
