#!/usr/bin/env python3
"""PyTorch column of bench/csm.ts: transformers CsmForConditionalGeneration from a CsmConfig of the
same sizes (random init, codec dropped: the batch is given as embeddings, as ttslab's), PEFT LoRA
r 32 / alpha 16 / rsLoRA on the same regex (backbone and depth decoder projections only), one
training step (forward + backward, same batch layout and amortisation as bench/csm.ts) and greedy
generate() of batch 1. f32 (TF32 off, as ttslab's f32) and bf16 (weights and LoRA in bf16).
Usage: python3 bench/csm_torch.py '<json {config, bench, lora_regex}>'  (written by bench/csm.ts).
Prints progress on stderr (lines start with 'csm_torch:') and one JSON line on stdout."""
import json
import sys
import time

import torch
from transformers import CsmConfig, CsmForConditionalGeneration

spec = json.loads(sys.argv[1])
cfg_dict, bench, lora_regex = spec["config"], spec["bench"], spec["lora_regex"]
dev = torch.device("cuda")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
BOS, EOS, AUDIO, AUDIO_EOS = 128000, 128001, 128002, 128003
rows, notes = {}, {}


def log(*a):
    print("csm_torch:", *a, file=sys.stderr, flush=True)


def lcg(seed):
    """Same integers as bench/csm.ts's lcg."""
    s = [seed & 0xFFFFFFFF]

    def draw(n):
        s[0] = (s[0] * 1664525 + 1013904223) & 0xFFFFFFFF
        return s[0] % n

    return draw


def train_batch(nc):
    """bos, text, eos, frames x <|AUDIO|>, <|audio_eos|>; labels [B, S, nc] as
    _merge_input_ids_with_input_values makes them (-100 on text; codes on audio; codebooks 1..
    -100 on backbone-only frames; the end frame all zeros)."""
    rand = lcg(1234)
    ids, codes, labels = [], [], []
    for _ in range(bench["batch"]):
        row = [BOS] + [1000 + rand(100000) for _ in range(bench["text"] - 2)] + [EOS]
        lab = [[-100] * nc for _ in row]
        cod = [[0] * nc for _ in row]
        for f in range(bench["frames"]):
            frame = [rand(2048) for _ in range(nc)]
            row.append(AUDIO)
            cod.append(frame)
            lab.append(frame if f % bench["depthEvery"] == 0 else [frame[0]] + [-100] * (nc - 1))
        row.append(AUDIO_EOS)
        cod.append([0] * nc)
        lab.append([0] * nc)
        ids.append(row)
        codes.append(cod)
        labels.append(lab)
    t = lambda x: torch.tensor(x, device=dev)
    return t(ids), t(codes), t(labels)


def build(dtype):
    cfg = CsmConfig(**cfg_dict)
    torch.manual_seed(0)
    model = CsmForConditionalGeneration(cfg)
    model.codec_model = None  # not used: inputs are codes; ttslab's model has no codec either
    return model.to(dev, dtype).eval()


def embeds(model, ids, codes):
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    text = base.embed_text_tokens(ids)
    audio = base.backbone_model.embed_tokens(codes)
    is_audio = ((ids == AUDIO) | (ids == AUDIO_EOS))[..., None]
    return torch.where(is_audio, audio, text)


def timed(fn, warm, runs):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2], ts


def generate_fps(model, tag):
    n_text = bench["genText"]
    ids = torch.tensor([[BOS] + [2000 + 37 * i for i in range(n_text - 2)] + [EOS]], device=dev)
    kw = dict(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, depth_decoder_do_sample=False)
    with torch.no_grad():
        model.generate(**kw, max_new_tokens=2)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model.generate(**kw, max_new_tokens=bench["genFrames"])
        torch.cuda.synchronize()
        s = time.perf_counter() - t0
    frames = out.shape[1] if out.dim() == 3 else out.shape[-1]
    log(f"{tag} generate: output {tuple(out.shape)}, {frames} frames in {s:.2f} s = {frames / s:.2f} frames/s")
    rows[f"gen_fps_{tag}"] = frames / s
    notes["generate"] = f"generate() greedy, {frames} frames, {getattr(model.config, '_attn_implementation', '?')} attention"


def train(model, tag):
    from peft import LoraConfig, get_peft_model

    lcfg = LoraConfig(r=bench["lora"]["r"], lora_alpha=bench["lora"]["alpha"], lora_dropout=0.0, bias="none",
                      use_rslora=True, target_modules=lora_regex)
    pm = get_peft_model(model, lcfg)
    pm.train()
    n_lora = sum(p.numel() for p in pm.parameters() if p.requires_grad)
    wrapped = sum(1 for n, _ in pm.named_modules() if n.endswith(".lora_A"))
    log(f"{tag}: {wrapped} LoRA modules, {n_lora / 1e6:.1f} M trainable")
    ids, codes, labels = train_batch(cfg_dict["num_codebooks"])
    mask = torch.ones_like(ids)

    def step():
        out = pm(inputs_embeds=embeds(pm, ids, codes), attention_mask=mask, labels=labels)
        out.loss.backward()
        for p in pm.parameters():
            p.grad = None
        return out

    out = step()
    torch.cuda.synchronize()
    log(f"{tag}: loss {float(out.loss):.4f} (backbone {float(out.backbone_loss):.4f}, depth {float(out.depth_decoder_loss):.4f})")
    torch.cuda.reset_peak_memory_stats()
    s, ts = timed(step, 1, bench["steps"])
    rows[f"step_ms_{tag}"] = s * 1000
    rows[f"peak_gib_{tag}"] = torch.cuda.max_memory_allocated() / 2**30
    rows[f"reserved_gib_{tag}"] = torch.cuda.max_memory_reserved() / 2**30
    notes["train"] = f"transformers + PEFT, {getattr(model.config, '_attn_implementation', '?')} attention, {n_lora / 1e6:.1f} M LoRA"
    log(f"{tag} step: {[round(t * 1000) for t in ts]} ms, peak {rows[f'peak_gib_{tag}']:.2f} GiB")


for dtype, tag in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
    try:
        model = build(dtype)
        n = sum(p.numel() for p in model.parameters())
        log(f"{tag}: {n / 1e9:.3f} B parameters (codec dropped)")
        generate_fps(model, tag)
        train(model, tag)
    except Exception as e:  # one dtype failing must not hide the other's figures
        import traceback

        log(f"{tag} FAILED: {e!r}")
        traceback.print_exc(file=sys.stderr)
    finally:
        model = None
        torch.cuda.empty_cache()

print(json.dumps({"device": torch.cuda.get_device_name(0), "rows": rows, "notes": notes,
                  "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__,
                               "peft": __import__("peft").__version__}}))
