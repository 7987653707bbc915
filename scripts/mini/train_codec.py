"""Trains the mini Mimi codec on the corpus, evaluates it, encodes the corpus.

    python3 scripts/mini/train_codec.py CORPUS_DIR OUT_DIR --minutes 6 [--batch 48] [--seconds 2.0]

The model is transformers' MimiModel with common.MIMI_KWARGS. transformers' quantizer has
no training path (no straight-through estimator, codebooks are buffers), so the training
forward is written here around MimiModel's own submodules:

  audio [B, 1, S] -> encoder -> encoder_transformer -> downsample -> (STE split RVQ) ->
  upsample -> decoder_transformer -> decoder -> audio

The split RVQ is MimiModel's (1 semantic + 7 acoustic codebooks, each RVQ with its
input_proj / output_proj convs, both reading the same latent, decodes summed). Codebooks
are EMA k-means (decay 0.99, dead codes re-seeded from the batch), with Moshi's
straight-through estimator over the whole RVQ output and a commitment loss. The EMA state
lives in each codebook's `embed_sum` / `cluster_usage` buffers, from which transformers
derives `embed = embed_sum / cluster_usage`; at the end they are folded to
(embed, ones) so the F16 file keeps the ratio exact.

Losses: multi-resolution log-mel L1 + log-magnitude L1 + 0.1 x waveform L1 + 0.02 x
commitment, bf16 autocast. Outputs in OUT_DIR: mimi/ (save_pretrained, F16 safetensors),
codes.npz (every corpus clip's codes [frames, 8] in manifest order), codec_eval.json.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MultiResolutionLoss, clip, load_corpus, log_mel_80, mimi_config, snr_db  # noqa: E402


class EmaRvq:
    """STE residual VQ over one of MimiModel's MimiResidualVectorQuantizer (its codebook buffers hold the EMA)."""

    def __init__(self, rvq, decay: float = 0.99, dead: float = 0.05):
        self.rvq, self.decay, self.dead = rvq, decay, dead
        self.books = [layer.codebook for layer in rvq.layers]
        self.initialised = False

    def _embed(self, book) -> torch.Tensor:
        return book.embed_sum / book.cluster_usage.clamp(min=book.epsilon)[:, None]

    def __call__(self, latent: torch.Tensor, training: bool) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
        """latent `[B, hidden, T]` -> (quantised `[B, hidden, T]` with STE, commitment loss, per-book usage share)."""
        x = self.rvq.input_proj(latent) if self.rvq.input_proj is not None else latent  # [B, D, T]
        with torch.autocast(latent.device.type, enabled=False):  # distances and EMA in float32
            q, commit, used = self._quantise(x, training)
        q = self.rvq.output_proj(q.to(x.dtype)) if self.rvq.output_proj is not None else q.to(x.dtype)
        return q, commit, used

    def _quantise(self, x: torch.Tensor, training: bool) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
        B, D, T = x.shape
        flat = x.permute(0, 2, 1).reshape(-1, D).float()  # [N, D]
        residual = flat
        out = torch.zeros_like(flat)
        commit = flat.new_zeros(())
        used = []
        if training and not self.initialised:
            self._init(flat.detach())
        for book in self.books:
            embed = self._embed(book)  # [K, D]
            dist = (residual.detach().pow(2).sum(1, keepdim=True) - 2 * residual.detach() @ embed.t() + embed.pow(2).sum(1)[None])
            idx = dist.argmin(1)  # [N]
            q = embed[idx]
            commit = commit + F.mse_loss(residual, q.detach())
            if training:
                self._update(book, residual.detach(), idx)
            used.append(float(torch.unique(idx).numel()) / embed.shape[0])
            residual = residual - q.detach()
            out = out + q.detach()
        # Moshi's straight-through over the whole RVQ: gradients reach the encoder as if unquantised.
        out = flat + (out - flat).detach()
        return out.reshape(B, T, D).permute(0, 2, 1), commit / len(self.books), used

    @torch.no_grad()
    def _init(self, flat: torch.Tensor) -> None:
        # k-means++-free start: each book takes random latent vectors (residual scale shrinks per book).
        residual = flat
        for book in self.books:
            K = book.embed_sum.shape[0]
            pick = residual[torch.randint(0, residual.shape[0], (K,), device=flat.device)]
            book.embed_sum.copy_(pick)
            book.cluster_usage.fill_(1.0)
            embed = self._embed(book)
            idx = torch.cdist(residual, embed).argmin(1)
            residual = residual - embed[idx]
        self.initialised = True

    @torch.no_grad()
    def _update(self, book, x: torch.Tensor, idx: torch.Tensor) -> None:
        K = book.embed_sum.shape[0]
        counts = torch.bincount(idx, minlength=K).float()
        sums = torch.zeros_like(book.embed_sum).index_add_(0, idx, x)
        book.cluster_usage.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        book.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        dead = book.cluster_usage < self.dead
        n = int(dead.sum())
        if n:
            pick = x[torch.randint(0, x.shape[0], (n,), device=x.device)]
            book.embed_sum[dead] = pick
            book.cluster_usage[dead] = 1.0
        book._embed = None  # transformers caches embed; the buffers changed

    @torch.no_grad()
    def fold(self) -> None:
        """Stores embed = embed_sum / usage with usage 1 (exact in F16, same codes and decode)."""
        for book in self.books:
            book.embed_sum.copy_(self._embed(book))
            book.cluster_usage.fill_(1.0)
            book._embed = None


def forward(model, ema_sem: EmaRvq, ema_ac: EmaRvq, audio: torch.Tensor, training: bool):
    """audio `[B, 1, S]` -> (decoded `[B, 1, S]`, commitment, usage)."""
    h = model.encoder(audio)  # [B, hidden, S / 480]
    h = model.encoder_transformer(h.transpose(1, 2))[0].transpose(1, 2)
    h = model.downsample(h)  # [B, hidden, S / 960]
    q_sem, c_sem, u_sem = ema_sem(h, training)
    q_ac, c_ac, u_ac = ema_ac(h, training)
    q = q_sem + q_ac
    h = model.upsample(q)
    h = model.decoder_transformer(h.transpose(1, 2))[0].transpose(1, 2)
    y = model.decoder(h)
    return y, (c_sem + c_ac) / 2, u_sem + u_ac


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('corpus')
    ap.add_argument('out')
    ap.add_argument('--minutes', type=float, default=6.0)
    ap.add_argument('--max-steps', type=int, default=10**9)
    ap.add_argument('--batch', type=int, default=48)
    ap.add_argument('--seconds', type=float, default=1.92)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    os.makedirs(a.out, exist_ok=True)

    from transformers import MimiModel
    rows, audio = load_corpus(a.corpus)
    train_rows = [r for r in rows if r['split'] == 'train']
    # All training audio, concatenated, on the device; crops may straddle two clips (fine for a codec).
    train = torch.from_numpy(np.concatenate([np.asarray(audio[r['offset']: r['offset'] + r['samples']]) for r in train_rows])).to(dev)
    print(f'codec: {len(train_rows)} training clips, {train.numel() / 24000 / 3600:.2f} h', flush=True)

    cfg = mimi_config()
    model = MimiModel(cfg).to(dev).train()
    ema_sem = EmaRvq(model.quantizer.semantic_residual_vector_quantizer)
    ema_ac = EmaRvq(model.quantizer.acoustic_residual_vector_quantizer)
    crit = MultiResolutionLoss().to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.8, 0.99), weight_decay=0.0)
    seg = int(round(a.seconds * 24000 / 960)) * 960
    deadline = time.time() + a.minutes * 60
    step, t0, log = 0, time.time(), []
    while time.time() < deadline and step < a.max_steps:
        starts = torch.randint(0, train.numel() - seg, (a.batch,), device=dev)
        x = train[starts[:, None] + torch.arange(seg, device=dev)[None]].float() / 32768.0  # [B, seg]
        x = x * (10 ** (torch.empty(a.batch, 1, device=dev).uniform_(-6, 3) / 20))  # level augmentation, +-dB
        # Cosine decay over the time budget.
        frac = min((time.time() - t0) / (a.minutes * 60), 1.0)
        for g in opt.param_groups:
            g['lr'] = a.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == 'cuda'):
            y, commit, used = forward(model, ema_sem, ema_ac, x[:, None], training=True)
        y = y[:, 0, :seg].float()
        mel, mag = crit(y, x)
        wav = (y - x).abs().mean()
        loss = mel + mag + 0.1 * wav + 0.02 * commit
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 200 == 0:
            rec = dict(step=step, s=round(time.time() - t0, 1), loss=round(loss.item(), 4), mel=round(mel.item(), 4), mag=round(mag.item(), 4),
                       wav=round(wav.item(), 5), commit=round(commit.item(), 4), usage=round(float(np.mean(used)), 3))
            log.append(rec)
            print(json.dumps(rec), flush=True)
        step += 1
    train_s = time.time() - t0
    print(f'codec: {step} steps in {train_s:.0f} s', flush=True)
    ema_sem.fold()
    ema_ac.fold()
    model.eval()

    # Save first (F16 copy), so a failing evaluation loses nothing; evaluate the F32 model.
    import copy
    copy.deepcopy(model).half().save_pretrained(os.path.join(a.out, 'mimi'), safe_serialization=True)

    # -- codes of every clip, manifest order ----------------------------------------------------
    codes, frames = encode_all(model, rows, audio, dev)
    np.savez_compressed(os.path.join(a.out, 'codes.npz'), codes=codes, frames=frames)
    print(f'codec: saved, codes {codes.shape}', flush=True)

    # -- evaluation on held-out sentences: through transformers' own encode/decode ----------
    ev = evaluate(model, rows, audio, dev)
    ev.update(steps=step, train_seconds=round(train_s), train_hours=round(train.numel() / 24000 / 3600, 3), batch=a.batch,
              segment_seconds=seg / 24000, log=log)
    with open(os.path.join(a.out, 'codec_eval.json'), 'w') as f:
        json.dump(ev, f, indent=1)
    print(json.dumps({k: v for k, v in ev.items() if k != 'log' and k != 'per_speaker'}), flush=True)


@torch.no_grad()
def encode_all(model, rows, audio, dev, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Codes `[sum frames, 8]` int16 and frames per clip, via MimiModel.encode in batches (right padding is causal-safe)."""
    hop = 960
    out, frames = [], []
    order = sorted(range(len(rows)), key=lambda i: rows[i]['samples'])
    res: dict[int, np.ndarray] = {}
    for b in range(0, len(order), batch):
        ids = order[b: b + batch]
        n = max(rows[i]['samples'] for i in ids)
        x = np.zeros((len(ids), 1, math.ceil(n / hop) * hop), dtype=np.float32)
        for j, i in enumerate(ids):
            x[j, 0, : rows[i]['samples']] = clip(audio, rows[i])
        c = model.encode(torch.from_numpy(x).to(dev)).audio_codes  # [B, 8, frames]
        for j, i in enumerate(ids):
            f = math.ceil(rows[i]['samples'] / hop)
            res[i] = c[j, :, :f].t().cpu().numpy().astype(np.int16)
    for i in range(len(rows)):
        out.append(res[i])
        frames.append(len(res[i]))
    return np.concatenate(out), np.array(frames, dtype=np.int32)


@torch.no_grad()
def evaluate(model, rows, audio, dev, per_voice: int = 20, batch: int = 32) -> dict:
    """Log-mel L1 distance (80 bands, 10 ms hop) and SNR of encode -> decode, per voice, on the eval split.

    Clips go through MimiModel.encode / decode in right-padded batches: every layer is causal,
    so each clip's first ceil(samples / 960) frames and samples equal a one-clip pass.
    """
    hop = 960
    picked, count = [], {}
    for r in rows:
        if r['split'] == 'eval' and count.get(r['speaker'], 0) < per_voice:
            count[r['speaker']] = count.get(r['speaker'], 0) + 1
            picked.append(r)
    per: dict[str, list[tuple[float, float]]] = {}
    seen: dict[str, bool] = {}
    for b in range(0, len(picked), batch):
        group = picked[b: b + batch]
        n = math.ceil(max(r['samples'] for r in group) / hop) * hop
        x = np.zeros((len(group), 1, n), dtype=np.float32)
        for j, r in enumerate(group):
            x[j, 0, : r['samples']] = clip(audio, r)
        t = torch.from_numpy(x).to(dev)
        y = model.decode(model.encode(t).audio_codes).audio_values  # [B, 1, n]
        for j, r in enumerate(group):
            m = r['samples']
            mel = (log_mel_80(y[j, 0, :m]) - log_mel_80(t[j, 0, :m])).abs().mean().item()
            per.setdefault(r['speaker'], []).append((mel, snr_db(x[j, 0, :m], y[j, 0, :m].float().cpu().numpy())))
            seen[r['speaker']] = r['seen']
    table = {s: dict(seen=seen[s], mel_l1=round(float(np.mean([m for m, _ in v])), 4), snr_db=round(float(np.mean([q for _, q in v])), 2), clips=len(v))
             for s, v in per.items()}
    agg = lambda flag, key: round(float(np.mean([t[key] for t in table.values() if t['seen'] == flag])), 4)  # noqa: E731
    return dict(mel_l1_unseen=agg(False, 'mel_l1'), snr_db_unseen=agg(False, 'snr_db'), mel_l1_seen=agg(True, 'mel_l1'),
                snr_db_seen=agg(True, 'snr_db'), per_speaker=table)


if __name__ == '__main__':
    main()
