#!/usr/bin/env python3
"""PyTorch column of bench/csm.ts: transformers CsmForConditionalGeneration from a CsmConfig of the
same sizes (random init, codec dropped: the batch is given as embeddings, as ttslab's), PEFT LoRA
r 32 / alpha 16 / rsLoRA on the same regex (backbone and depth decoder projections only), one
training step (forward + backward, same batch layout and amortisation as bench/csm.ts) and greedy
generate() of batch 1. f32 (TF32 off, as ttslab's f32) and bf16 (bf16 weights; PEFT keeps the
LoRA weights in f32, its autocast_adapter_dtype default).
Full training steps (issue 8): forward + backward, clip_grad_norm_(1.0), optimizer.step(),
zero_grad(set_to_none=True), with torch.optim.AdamW fused=False (the foreach implementation,
torch's CUDA default) and fused=True, in f32 and, for the bf16 model, under
torch.autocast(bfloat16); bitsandbytes' AdamW8bit too when bitsandbytes is importable.
Usage: python3 bench/csm_torch.py '<json {config, bench, lora_regex, run}>'  (written by bench/csm.ts;
run = {train, optim, generate} booleans, all true when absent).
Prints progress on stderr (lines start with 'csm_torch:') and one JSON line on stdout."""
import json
import sys
import time

import torch
from transformers import CsmConfig, CsmForConditionalGeneration

spec = json.loads(sys.argv[1])
cfg_dict, bench, lora_regex = spec["config"], spec["bench"], spec["lora_regex"]
run = {"train": True, "optim": True, "generate": True, **spec.get("run", {})}
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
    try:
        with dev:  # initialised on the GPU: seconds instead of a minute of CPU init per model
            model = CsmForConditionalGeneration(cfg)
    except Exception as e:  # timing does not depend on where the random init ran
        log(f"init on {dev} failed ({e!r}); initialising on the CPU")
        model = None
        torch.cuda.empty_cache()
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


def lora(model, tag):
    from peft import LoraConfig, get_peft_model

    lcfg = LoraConfig(r=bench["lora"]["r"], lora_alpha=bench["lora"]["alpha"], lora_dropout=0.0, bias="none",
                      use_rslora=True, target_modules=lora_regex)
    pm = get_peft_model(model, lcfg, autocast_adapter_dtype=True)
    pm.train()
    trainable = [p for p in pm.parameters() if p.requires_grad]
    n_lora = sum(p.numel() for p in trainable)
    wrapped = sum(1 for n, _ in pm.named_modules() if n.endswith(".lora_A"))
    log(f"{tag}: {wrapped} LoRA modules, {n_lora / 1e6:.1f} M trainable in {len(trainable)} tensors of {trainable[0].dtype}")
    return pm


def train(pm, tag):
    model = pm.get_base_model()
    n_lora = sum(p.numel() for p in pm.parameters() if p.requires_grad)
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


def state_bytes(opt):
    """Bytes of every tensor in the optimizer's state (moments, step counters, 8-bit absmax)."""
    return sum(t.numel() * t.element_size() for st in opt.state.values() for t in st.values() if torch.is_tensor(t))


def optim_steps(pm, tag):
    """Full training steps per optimizer: forward (+ autocast for bf16), backward, clip, update."""
    ids, codes, labels = train_batch(cfg_dict["num_codebooks"])
    mask = torch.ones_like(ids)
    params = [p for p in pm.parameters() if p.requires_grad]
    tokens = ids.numel()  # rows x sequence length, as bench/csm.ts counts
    autocast = tag == "bf16"
    kw = dict(lr=bench["lr"], betas=tuple(bench["betas"]), eps=bench["eps"], weight_decay=bench["weightDecay"])
    variants = [("adamw", lambda: torch.optim.AdamW(params, fused=False, **kw), "torch.optim.AdamW(fused=False: foreach)"),
                ("adamw_fused", lambda: torch.optim.AdamW(params, fused=True, **kw), "torch.optim.AdamW(fused=True)")]
    try:
        import bitsandbytes as bnb

        variants.append(("adamw8bit", lambda: bnb.optim.AdamW8bit(params, **kw), f"bitsandbytes {bnb.__version__} AdamW8bit"))
    except Exception as e:  # ImportError where it is not installed; a broken install must not stop the other rows
        notes["adamw8bit"] = f"bitsandbytes AdamW8bit not measured: bitsandbytes is not installed on this machine ({e})"
        log(notes["adamw8bit"])
    where = f"{'bf16 weights, f32 LoRA, torch.autocast(bfloat16)' if autocast else 'f32, TF32 off'}, {getattr(pm.config, '_attn_implementation', '?')} attention"
    for name, make, label in variants:
        key = f"{name}_{tag}"
        try:
            opt = make()
            ev = [torch.cuda.Event(enable_timing=True) for _ in range(4)]

            def step():
                ev[0].record()
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                    out = pm(inputs_embeds=embeds(pm, ids, codes), attention_mask=mask, labels=labels)
                out.loss.backward()
                ev[1].record()
                norm = torch.nn.utils.clip_grad_norm_(params, bench["maxGradNorm"])
                ev[2].record()
                opt.step()
                opt.zero_grad(set_to_none=True)
                ev[3].record()
                return out.loss.detach(), norm

            for _ in range(bench["optimWarmup"]):
                step()
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            ts, phases, losses, norms = [], [], [], []
            for _ in range(bench["optimSteps"]):
                t0 = time.perf_counter()
                loss, norm = step()
                torch.cuda.synchronize()
                ts.append(time.perf_counter() - t0)
                phases.append([ev[i].elapsed_time(ev[i + 1]) for i in range(3)])
                losses.append(float(loss))
                norms.append(float(norm))
            s = sorted(ts)[len(ts) // 2]
            mid = sorted(range(len(ts)), key=lambda i: ts[i])[len(ts) // 2]
            rows[f"opt_step_ms_{key}"] = s * 1000
            rows[f"opt_tokens_s_{key}"] = tokens / s
            rows[f"opt_peak_gib_{key}"] = torch.cuda.max_memory_allocated() / 2**30
            rows[f"opt_state_mib_{key}"] = state_bytes(opt) / 2**20
            notes[key] = f"{label}, {where}; median step phases fwd+bwd {phases[mid][0]:.1f} ms, clip {phases[mid][1]:.1f} ms, update {phases[mid][2]:.1f} ms"
            log(f"{key}: steps {[round(t * 1000, 1) for t in ts]} ms ({notes[key]}); losses {[round(x, 4) for x in losses]}, "
                f"grad norms {[round(x, 3) for x in norms]}; {tokens / s:.0f} tokens/s; peak {rows[f'opt_peak_gib_{key}']:.3f} GiB, "
                f"state {rows[f'opt_state_mib_{key}']:.1f} MiB")
        except Exception as e:  # one optimizer failing must not hide the others
            import traceback

            log(f"{key} FAILED: {e!r}")
            traceback.print_exc(file=sys.stderr)
        finally:
            opt = None
            for p in params:
                p.grad = None
            torch.cuda.empty_cache()


for dtype, tag in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
    model = pm = None
    try:
        model = build(dtype)
        n = sum(p.numel() for p in model.parameters())
        log(f"{tag}: {n / 1e9:.3f} B parameters (codec dropped)")
        if run["generate"]:
            generate_fps(model, tag)
        if run["train"] or run["optim"]:
            pm = lora(model, tag)
        if run["train"]:
            train(pm, tag)
        if run["optim"]:
            optim_steps(pm, tag)
    except Exception as e:  # one dtype failing must not hide the other's figures
        import traceback

        log(f"{tag} FAILED: {e!r}")
        traceback.print_exc(file=sys.stderr)
    finally:
        model = pm = None
        torch.cuda.empty_cache()

print(json.dumps({"device": torch.cuda.get_device_name(0), "rows": rows, "notes": notes,
                  "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__,
                               "peft": __import__("peft").__version__}}))
