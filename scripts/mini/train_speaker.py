"""Trains the mini speaker encoder (transformers' WavLMForXVector at a tiny size, SPK_KWARGS) from
scratch on asr_spk_data.py's training voices, and saves it in the layout ttslab's
src/models/wavlm loads (config.json, preprocessor_config.json, model.safetensors in F16).

    python3 scripts/mini/train_speaker.py CORPUS_DIR OUT_DIR --minutes 4 [--batch 128] [--smoke]

Objective: speaker classification with an additive-margin softmax (AM-softmax: scale 30,
margin ramped 0 -> 0.2 over the first 30% of the budget) on the x-vector `embeddings`
themselves, the vector that ttslab's `speakerEmbedding` returns and the speaker verifier
compares by cosine (transformers' own `objective` scores the `classifier` output instead, a
linear map away from what is compared). The `classifier` is saved as the identity, so the
model's `logits` equal its embeddings; `objective.weight` (the class table) is not saved.

Classes: every training voice at speeds 0.9, 1.0 and 1.1 (resampling moves pitch and
formants together: each speed is a distinct voice, as Kaldi's speed perturbation does).
Crops: 1.6..3.2 s (one length per batch) running across consecutive clips of the class's
voice from a random point; spectral tilt and coloured noise at 5..35 dB SNR (50% each);
then the feature extractor's per-clip normalisation (zero mean, unit variance).
AdamW, warm-up then cosine over the time budget, float32 with TF32 matmuls.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_whisper import SAMPLE_RATE, color_and_noise, load_corpus, render  # noqa: E402

SPEEDS = (0.9, 1.0, 1.1)
SPK_KWARGS = dict(
    hidden_size=128, num_hidden_layers=3, num_attention_heads=4, intermediate_size=512,
    conv_dim=(128,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_bias=False,
    feat_extract_norm='group', do_stable_layer_norm=False, num_conv_pos_embeddings=64, num_conv_pos_embedding_groups=16,
    num_buckets=320, max_bucket_distance=800, hidden_act='gelu', feat_extract_activation='gelu', layer_norm_eps=1e-5,
    use_weighted_layer_sum=True, tdnn_dim=(128, 128, 128, 128, 384), tdnn_kernel=(5, 3, 3, 1, 1),
    tdnn_dilation=(1, 2, 3, 1, 1), xvector_output_dim=128,
    hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0, final_dropout=0.0,
    layerdrop=0.0, mask_time_prob=0.0, mask_feature_prob=0.0, apply_spec_augment=False,
)


class Crops:
    """Draws crops: (class, audio pieces) with the class = training voice x speed."""

    def __init__(self, rows: list[dict], seed: int):
        self.rng = random.Random(seed)
        self.by_speaker: dict[int, list[dict]] = {}
        for r in rows:
            self.by_speaker.setdefault(r['speaker_idx'], []).append(r)
        self.speakers = sorted(self.by_speaker)
        self.num_classes = len(self.speakers) * len(SPEEDS)

    def draw(self, length: int) -> tuple[int, list[tuple[int, int, float, int, int]]]:
        rng = self.rng
        k = rng.randrange(len(self.speakers))
        si = rng.randrange(len(SPEEDS))
        speed = SPEEDS[si]
        clips = self.by_speaker[self.speakers[k]]
        pieces, t = [], 0
        r = rng.choice(clips)
        skip = rng.randrange(0, max(1, r['samples'] // 2))
        while t < length:
            src, n = r['offset'] + skip, r['samples'] - skip
            out = min(int(n / speed), length - t)
            if out > 0:
                pieces.append((src, n, speed, t, out))
            t += out + rng.randrange(0, int(0.25 * SAMPLE_RATE))
            r, skip = rng.choice(clips), 0
        return k * len(SPEEDS) + si, pieces


def make_batch(crops: Crops, audio, batch: int, length: int, augment: bool = True):
    labels, pieces = [], []
    for i in range(batch):
        c, ps = crops.draw(length)
        labels.append(c)
        pieces += [(i,) + p for p in ps]
    x = render(audio, pieces, batch, length)
    if augment:
        x = color_and_noise(x, torch.full((batch,), length, device=x.device))
    x = (x - x.mean(1, keepdim=True)) / torch.sqrt(x.var(1, unbiased=False, keepdim=True) + 1e-7)
    return x, torch.tensor(labels, device=x.device)


def am_softmax(emb, weight, labels, margin: float, scale: float = 30.0):
    cos = F.normalize(emb.float(), dim=1) @ F.normalize(weight.float(), dim=1).T
    logits = scale * (cos - margin * F.one_hot(labels, weight.shape[0]))
    return F.cross_entropy(logits, labels), (cos.argmax(1) == labels).float().mean()


def save(model, out: str) -> int:
    """F16 safetensors without the class table, the classifier as the identity; config + preprocessor config."""
    from safetensors.torch import save_file
    from transformers import Wav2Vec2FeatureExtractor
    os.makedirs(out, exist_ok=True)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.eye(model.classifier.weight.shape[0]))
        model.classifier.bias.zero_()
    sd = {k: v.detach().to(torch.float16).contiguous().cpu() for k, v in model.state_dict().items() if not k.startswith('objective.')}
    save_file(sd, os.path.join(out, 'model.safetensors'), metadata={'format': 'pt'})
    model.config.save_pretrained(out)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SAMPLE_RATE, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(out)
    return sum(v.numel() for v in sd.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('corpus')
    ap.add_argument('out')
    ap.add_argument('--minutes', type=float, default=4.0)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--max-steps', type=int, default=0)
    ap.add_argument('--smoke', action='store_true')
    a = ap.parse_args()
    from transformers import WavLMConfig, WavLMForXVector
    torch.manual_seed(0)
    dev = torch.device('cuda')
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    rows, audio_np = load_corpus(a.corpus)
    train_rows = [r for r in rows if r['split'] == 'train']
    audio = torch.from_numpy(audio_np).to(dev)
    crops = Crops(train_rows, seed=2)
    model = WavLMForXVector(WavLMConfig(**SPK_KWARGS, num_labels=crops.num_classes)).to(dev)
    table = torch.nn.Parameter(torch.randn(crops.num_classes, SPK_KWARGS['xvector_output_dim'], device=dev) * 0.1)
    params = [p for n, p in model.named_parameters() if not n.startswith('objective.')] + [table]
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.98), weight_decay=0.01)
    n_saved = sum(v.numel() for k, v in model.state_dict().items() if not k.startswith('objective.'))
    print(f'speaker: {n_saved / 1e6:.2f} M values saved ({2 * n_saved / 1e6:.2f} MB F16), {crops.num_classes} classes '
          f'({len(crops.speakers)} voices x {len(SPEEDS)} speeds), {len(train_rows)} clips', flush=True)
    warm = 10 if a.smoke else 300
    budget = a.minutes * 60
    rng = random.Random(3)
    t0, step, log = time.time(), 0, []
    model.train()
    while True:
        el = time.time() - t0
        if el > budget or (a.max_steps and step >= a.max_steps):
            break
        frac = min(el / budget, 1.0)
        lr = a.lr * min(1.0, (step + 1) / warm) * (0.03 + 0.97 * 0.5 * (1 + math.cos(math.pi * frac)))
        margin = 0.2 * min(1.0, frac / 0.3)
        for g in opt.param_groups:
            g['lr'] = lr
        length = int(rng.uniform(1.6, 3.2) * SAMPLE_RATE)
        x, labels = make_batch(crops, audio, a.batch, length)
        emb = model(input_values=x).embeddings  # float32 (TF32 matmuls): the model is small
        loss, acc = am_softmax(emb, table, labels, margin)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        if step % (5 if a.smoke else 100) == 0:
            if not torch.isfinite(loss):
                raise RuntimeError(f'speaker: loss is {loss.item()} at step {step}')
            rec = dict(step=step, s=round(time.time() - t0, 1), loss=round(loss.item(), 4), acc=round(acc.item(), 3),
                       margin=round(margin, 3), grad_norm=round(float(gn), 3), lr=round(lr, 6))
            log.append(rec)
            print('speaker', json.dumps(rec), flush=True)
        step += 1
    train_s = time.time() - t0
    model.eval()
    n = save(model, a.out)
    print(f'speaker: {step} steps x {a.batch} crops in {train_s:.0f} s -> {a.out} ({n} values)', flush=True)
    with open(os.path.join(a.out, 'train_log.json'), 'w') as f:
        json.dump(dict(steps=step, batch=a.batch, seconds=round(train_s, 1), lr=a.lr, classes=crops.num_classes,
                       voices=len(crops.speakers), params=n, log=log), f, indent=1)


if __name__ == '__main__':
    main()
