"""PyTorch side of `npm run bench`: the same measurements as bench/run.ts, printed as JSON.

Rows use the same names as the TypeScript side. f32 matmuls run with TF32 off (plain f32,
as tfjs computes); attention and the decoder block use the same naive f32 math (explicit
scores, causal mask, softmax) so the two columns compare like with like.
Usage: python3 bench/torch_bench.py '<json config>'  (config written by bench/run.ts)
"""
import json
import math
import sys
import time

import torch

cfg = json.loads(sys.argv[1])
dev = torch.device("cuda")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
rows = {}


def timed(fn, warmup, reps):
    """Median seconds of fn() over reps runs, CUDA events around each, after warmup runs."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    times.sort()
    return times[len(times) // 2]


for n in cfg["matmul_sizes"]:
    for dtype, label in ((torch.float32, "f32"), (torch.float16, "f16")):
        a = torch.randn(n, n, device=dev, dtype=dtype)
        b = torch.randn(n, n, device=dev, dtype=dtype)
        t = timed(lambda: a @ b, 3, 10)
        rows[f"matmul {label} {n}"] = 2 * n**3 / t / 1e12
        del a, b


def attention(q, k, v, heads, kv_heads):
    # q [B, H, S, D], k/v [B, KV, S, D]: repeat kv heads (GQA), causal softmax attention.
    rep = heads // kv_heads
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    s = q.shape[2]
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    mask = torch.ones(s, s, device=q.device, dtype=torch.bool).tril()
    scores = scores.masked_fill(~mask, -1e9)
    return torch.softmax(scores, dim=-1) @ v


H, KV, D = cfg["heads"], cfg["kv_heads"], cfg["head_dim"]
for batch, seq in cfg["attention"]:
    q = torch.randn(batch, H, seq, D, device=dev, requires_grad=True)
    k = torch.randn(batch, KV, seq, D, device=dev, requires_grad=True)
    v = torch.randn(batch, KV, seq, D, device=dev, requires_grad=True)
    r = torch.randn(batch, H, seq, D, device=dev)

    def step():
        out = attention(q, k, v, H, KV)
        (out * r).sum().backward()

    rows[f"attention fwd+bwd B={batch} S={seq}"] = timed(step, 2, 5) * 1e3
    del q, k, v, r
    torch.cuda.empty_cache()

HID, FFN = cfg["hidden"], cfg["ffn"]


def rms_norm(x, w, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


for batch, seq in cfg["block"]:
    g = torch.Generator(device=dev).manual_seed(0)
    p = {
        name: (torch.randn(*shape, device=dev, generator=g) * 0.02).requires_grad_()
        for name, shape in {
            "q_proj": (HID, H * D), "k_proj": (HID, KV * D), "v_proj": (HID, KV * D), "o_proj": (H * D, HID),
            "gate_proj": (HID, FFN), "up_proj": (HID, FFN), "down_proj": (FFN, HID),
        }.items()
    }
    ln1 = torch.ones(HID, device=dev, requires_grad=True)
    ln2 = torch.ones(HID, device=dev, requires_grad=True)
    x = torch.randn(batch, seq, HID, device=dev, requires_grad=True)
    pos = torch.arange(seq, device=dev, dtype=torch.float32)
    inv = 1.0 / (500000.0 ** (torch.arange(0, D, 2, device=dev, dtype=torch.float32) / D))
    ang = torch.cat((pos[:, None] * inv[None], pos[:, None] * inv[None]), dim=-1)  # [S, D]
    cos, sin = ang.cos(), ang.sin()

    def block():
        h = rms_norm(x, ln1)
        q = (h @ p["q_proj"]).view(batch, seq, H, D).transpose(1, 2)
        k = (h @ p["k_proj"]).view(batch, seq, KV, D).transpose(1, 2)
        v = (h @ p["v_proj"]).view(batch, seq, KV, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        a = attention(q, k, v, H, KV).transpose(1, 2).reshape(batch, seq, H * D)
        y = x + a @ p["o_proj"]
        h2 = rms_norm(y, ln2)
        m = torch.nn.functional.silu(h2 @ p["gate_proj"]) * (h2 @ p["up_proj"])
        out = y + m @ p["down_proj"]
        out.sum().backward()

    rows[f"decoder block fwd+bwd B={batch} S={seq}"] = timed(block, 2, 5) * 1e3
    del p, x
    torch.cuda.empty_cache()

print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}))
