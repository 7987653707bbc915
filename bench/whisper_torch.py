#!/usr/bin/env python3
"""PyTorch column of bench/whisper.ts: a large-v3-turbo-shaped WhisperForConditionalGeneration
with random weights on CUDA, f32 (TF32 off, as ttslab's f32): encoder time for one 30 s window
and greedy decoder tokens/s with the KV cache (one step = one forward + argmax read back).
Prints one JSON line."""
import json
import time

import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_grad_enabled(False)
cfg = WhisperConfig(vocab_size=51866, num_mel_bins=128, d_model=1280, encoder_layers=32, decoder_layers=4,
                    encoder_attention_heads=20, decoder_attention_heads=20, encoder_ffn_dim=5120, decoder_ffn_dim=5120,
                    max_source_positions=1500, max_target_positions=448, decoder_start_token_id=50258,
                    pad_token_id=50257, eos_token_id=50257, bos_token_id=50257)
torch.manual_seed(0)
model = WhisperForConditionalGeneration(cfg).cuda().eval()
model.set_attn_implementation("eager")
feats = torch.randn(1, 128, 3000, device="cuda")


def timed(fn, warm=2, runs=5):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2]


enc_s = timed(lambda: model.model.encoder(feats).last_hidden_state)
enc = model.model.encoder(feats)
STEPS = 64


def decode():
    out = model(encoder_outputs=enc, decoder_input_ids=torch.tensor([[50258, 50259, 50360, 50365]], device="cuda"), use_cache=True)
    past = out.past_key_values
    tok = out.logits[:, -1].argmax(-1, keepdim=True)
    for _ in range(STEPS):
        out = model(encoder_outputs=enc, decoder_input_ids=tok, past_key_values=past, use_cache=True)
        past = out.past_key_values
        tok = out.logits[:, -1].argmax(-1, keepdim=True)
        int(tok)  # read back each step, as a decoding loop does


dec_s = timed(decode, warm=1, runs=3)
print(json.dumps({"device": torch.cuda.get_device_name(0), "encode_30s_ms": enc_s * 1000, "decoder_tokens_per_s": STEPS / dec_s,
                  "decode_steps": STEPS, "dtype": "float32"}))
