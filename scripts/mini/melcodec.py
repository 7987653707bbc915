"""The ttslab-mini codec: a DSP + learned audio tokenizer with CSM's interface.

Design (issue 9 allows "a stated DSP + learned design"):
- analysis (DSP): 24 kHz mono -> STFT (n_fft 1024, hop 240 = 10 ms, periodic Hann, centred with
  reflect padding) -> |X| -> 80 triangular mel filters (HTK mel scale, 0-12 kHz, unnormalised)
  -> natural log (magnitude floor 1e-5), clamped below at `floor` (-8 by default);
- a code frame = `frames_per_code` consecutive 10 ms mel frames (8 -> 80 ms -> 12.5 Hz, CSM's
  frame rate): a patch of frames_per_code x 80 log-mel values, flattened frame-major;
- learned: the patch minus its corpus mean is projected on `dim` principal axes (PCA of the
  training corpus), and quantised by a residual VQ of `num_codebooks` stages x `codebook_size`
  codes (k-means per stage on the previous stages' residuals);
- synthesis (DSP): codes -> sum of code vectors -> inverse PCA + mean -> log-mel -> mel
  magnitudes -> linear magnitudes through the filter bank's pseudo-inverse (clipped at 0) ->
  fast Griffin-Lim (`gl_iters` iterations, momentum 0.99, deterministic initial phases).

Shapes: samples [n] at 24 kHz; codes [frames, num_codebooks] with frames = ceil(n / 1920) for
frames_per_code 8; decode gives frames * frame_samples samples. Everything is float64 here,
as in ttslab's TypeScript port (src/models/melcodec/), so both give identical codes.

Weights (safetensors, prefix `codec_model.` inside a mini CSM checkpoint):
  mel_filters [n_mels, n_fft/2+1], mel_pinv [n_fft/2+1, n_mels], mean [P], components [dim, P],
  codebooks [num_codebooks, codebook_size, dim]   (P = frames_per_code * n_mels)
and the config (the checkpoint's `codec_config`, model_type "ttslab_mel_rvq").
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import sparse

MODEL_TYPE = 'ttslab_mel_rvq'


@dataclass
class MelCodecConfig:
    sampling_rate: int = 24000
    n_fft: int = 1024
    hop_length: int = 240
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float = 12000.0
    log_floor: float = -8.0
    frames_per_code: int = 8
    dim: int = 128
    num_codebooks: int = 32
    codebook_size: int = 1024
    gl_iters: int = 32
    gl_momentum: float = 0.99
    model_type: str = MODEL_TYPE

    @property
    def frame_samples(self) -> int:
        return self.hop_length * self.frames_per_code

    @property
    def patch(self) -> int:
        return self.frames_per_code * self.n_mels

    def to_dict(self) -> dict:
        return asdict(self)


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filters(c: MelCodecConfig) -> np.ndarray:
    """[n_mels, n_fft/2+1] triangles on the HTK mel scale, peak 1, not area-normalised."""
    pts = mel_to_hz(np.linspace(hz_to_mel(c.f_min), hz_to_mel(c.f_max), c.n_mels + 2))
    freqs = np.arange(c.n_fft // 2 + 1, dtype=np.float64) * c.sampling_rate / c.n_fft
    fb = np.zeros((c.n_mels, c.n_fft // 2 + 1))
    for i in range(c.n_mels):
        lo, ce, hi = pts[i:i + 3]
        fb[i] = np.maximum(0.0, np.minimum((freqs - lo) / (ce - lo), (hi - freqs) / (hi - ce)))
    return fb


def hann(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)  # periodic


def stft(x: np.ndarray, c: MelCodecConfig) -> np.ndarray:
    """x [n] -> complex [1 + n // hop, n_fft/2+1], centred (reflect padding of n_fft/2)."""
    h = c.n_fft // 2
    xp = np.pad(np.asarray(x, dtype=np.float64), (h, h), mode='reflect')
    n = 1 + (len(xp) - c.n_fft) // c.hop_length
    idx = np.arange(c.n_fft)[None] + c.hop_length * np.arange(n)[:, None]
    return np.fft.rfft(xp[idx] * hann(c.n_fft), axis=1)


def istft(spec: np.ndarray, length: int, c: MelCodecConfig) -> np.ndarray:
    """Inverse of `stft` by weighted overlap-add (window-square normalised), cropped to `length`."""
    w = hann(c.n_fft)
    frames = np.fft.irfft(spec, n=c.n_fft, axis=1) * w
    n = spec.shape[0]
    total = c.n_fft + c.hop_length * (n - 1)
    y = np.zeros(total)
    wsum = np.zeros(total)
    for i in range(n):
        s = i * c.hop_length
        y[s:s + c.n_fft] += frames[i]
        wsum[s:s + c.n_fft] += w * w
    y /= np.maximum(wsum, 1e-8)
    h = c.n_fft // 2
    out = y[h:h + length]
    return np.pad(out, (0, length - len(out))) if len(out) < length else out


def log_mel(x: np.ndarray, c: MelCodecConfig, fb: np.ndarray) -> np.ndarray:
    """x [n] -> clamped natural-log mel [1 + n // hop, n_mels]."""
    mel = np.abs(stft(x, c)) @ fb.T
    return np.maximum(np.log(np.maximum(mel, 1e-5)), c.log_floor)


def patches(x: np.ndarray, c: MelCodecConfig, fb: np.ndarray) -> np.ndarray:
    """x [n] -> [frames, frames_per_code * n_mels]: x is zero-padded to frames * frame_samples
    (frames = ceil(n / frame_samples)) and the first frames * frames_per_code mel frames are kept."""
    frames = max(1, math.ceil(len(x) / c.frame_samples))
    xp = np.zeros(frames * c.frame_samples)
    xp[:len(x)] = x
    lm = log_mel(xp, c, fb)[:frames * c.frames_per_code]
    return lm.reshape(frames, c.patch)


def deterministic_phases(frames: int, bins: int) -> np.ndarray:
    """Griffin-Lim's initial phases: unit complex numbers from an integer hash (same in TS)."""
    t = np.arange(frames, dtype=np.int64)[:, None]
    k = np.arange(bins, dtype=np.int64)[None]
    u = ((t * 7919 + k * 104729) % 65536).astype(np.float64) / 65536.0
    return np.exp(2j * np.pi * u)


class MelCodec:
    def __init__(self, c: MelCodecConfig, mean: np.ndarray, components: np.ndarray, codebooks: np.ndarray,
                 fb: np.ndarray | None = None, pinv: np.ndarray | None = None):
        self.c = c
        self.fb = mel_filters(c) if fb is None else np.asarray(fb, dtype=np.float64)
        self.pinv = np.linalg.pinv(self.fb) if pinv is None else np.asarray(pinv, dtype=np.float64)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.components = np.asarray(components, dtype=np.float64)
        self.codebooks = np.asarray(codebooks, dtype=np.float64)
        self.norms = (self.codebooks ** 2).sum(-1)  # [Q, K]

    # ---- weights ----
    def tensors(self) -> dict:
        """The safetensors tensors (F16 for the learned ones, F32 for the fixed DSP matrices)."""
        return {
            'mel_filters': self.fb.astype(np.float32),
            'mel_pinv': self.pinv.astype(np.float32),
            'mean': self.mean.astype(np.float16),
            'components': self.components.astype(np.float16),
            'codebooks': self.codebooks.astype(np.float16),
        }

    @staticmethod
    def from_tensors(config: dict, t: dict, prefix: str = '') -> 'MelCodec':
        c = MelCodecConfig(**{k: v for k, v in config.items() if k in MelCodecConfig.__dataclass_fields__})
        g = lambda n: np.asarray(t[prefix + n], dtype=np.float64)  # noqa: E731
        return MelCodec(c, g('mean'), g('components'), g('codebooks'), g('mel_filters'), g('mel_pinv'))

    def rounded(self) -> 'MelCodec':
        """This codec with its weights rounded as they are stored (what a loader sees)."""
        return MelCodec.from_tensors(self.c.to_dict(), self.tensors())

    # ---- codec ----
    def encode(self, x: np.ndarray, num_codebooks: int | None = None) -> np.ndarray:
        """x [n] float in [-1, 1] at 24 kHz -> codes [frames, num_codebooks] int64."""
        q = num_codebooks or self.c.num_codebooks
        z = (patches(x, self.c, self.fb) - self.mean) @ self.components.T  # [frames, dim]
        codes = np.zeros((z.shape[0], q), dtype=np.int64)
        r = z.copy()
        for s in range(q):
            d = self.norms[s][None] - 2.0 * (r @ self.codebooks[s].T)  # ||r-c||^2 - ||r||^2
            a = d.argmin(1)
            codes[:, s] = a
            r -= self.codebooks[s][a]
        return codes

    def log_mel_of(self, codes: np.ndarray) -> np.ndarray:
        """codes [frames, q] (q <= num_codebooks) -> log-mel [frames * frames_per_code, n_mels]."""
        codes = np.asarray(codes, dtype=np.int64)
        z = np.zeros((codes.shape[0], self.c.dim))
        for s in range(codes.shape[1]):
            z += self.codebooks[s][codes[:, s]]
        return (z @ self.components + self.mean).reshape(-1, self.c.n_mels)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """codes [frames, q] -> samples [frames * frame_samples] by Griffin-Lim."""
        c = self.c
        length = codes.shape[0] * c.frame_samples
        lm = self.log_mel_of(codes)
        n = 1 + length // c.hop_length  # frames of stft() for `length` samples
        lm = np.concatenate([lm, np.repeat(lm[-1:], n - lm.shape[0], axis=0)]) if lm.shape[0] < n else lm[:n]
        mag = np.maximum(np.exp(lm) @ self.pinv.T, 0.0)  # [n, bins]
        angles = deterministic_phases(*mag.shape)
        prev = np.zeros_like(angles)
        for _ in range(c.gl_iters):
            rebuilt = stft(istft(mag * angles, length, c), c)
            t = rebuilt - c.gl_momentum * prev
            prev = rebuilt
            angles = t / np.maximum(np.abs(t), 1e-8)
        return istft(mag * angles, length, c)


def fit(feats: np.ndarray, c: MelCodecConfig, iters: int = 10, seed: int = 0, log=print, device: str | None = None) -> MelCodec:
    """PCA + residual k-means (Lloyd, `iters` rounds per stage, empty clusters re-seeded from
    random residuals) on patches `feats` [N, P], float32 maths, float64 result. `device`: None
    for numpy, or a torch device ('cuda') for the same algorithm in torch (much faster)."""
    rng = np.random.default_rng(seed)
    X = np.asarray(feats, dtype=np.float32)
    mean = X.astype(np.float64).mean(0)
    sub = X[rng.choice(len(X), min(len(X), 200_000), replace=False)] - mean.astype(np.float32)
    _, _, vt = np.linalg.svd(sub.astype(np.float64), full_matrices=False)
    comps = vt[:c.dim]
    R = ((X - mean.astype(np.float32)) @ comps.T.astype(np.float32)).astype(np.float32)
    log(f'PCA: {c.dim} of {c.patch} dimensions keep {(np.linalg.norm(R) ** 2 / np.linalg.norm(sub) ** 2 * len(sub) / len(X)):.4f} of the variance')
    if device is not None:
        books = _rvq_torch(R, c, iters, rng, log, device)
    else:
        books = _rvq_numpy(R, c, iters, rng, log)
    return MelCodec(c, mean, comps, np.stack(books).astype(np.float64))


def _rvq_numpy(R: np.ndarray, c: MelCodecConfig, iters: int, rng, log) -> list:
    books = []
    for s in range(c.num_codebooks):
        C = R[rng.choice(len(R), c.codebook_size, replace=False)].copy()
        for _ in range(iters):
            a = assign(R, C)
            cnt = np.bincount(a, minlength=c.codebook_size)
            S = sparse.csr_matrix((np.ones(len(a), dtype=np.float32), (a, np.arange(len(a)))),
                                  shape=(c.codebook_size, len(a))) @ R  # per-cluster sums [K, D]
            live = cnt > 0
            C[live] = (S[live] / cnt[live, None]).astype(np.float32)
            dead = int((~live).sum())
            if dead:
                C[~live] = R[rng.choice(len(R), dead, replace=False)]
        a = assign(R, C)
        R -= C[a]
        books.append(C)
        log(f'codebook {s + 1}/{c.num_codebooks}: residual rms {float(np.sqrt((R.astype(np.float64) ** 2).mean())):.4f}')
    return books


def _rvq_torch(R_np: np.ndarray, c: MelCodecConfig, iters: int, rng, log, device: str) -> list:
    import torch
    R = torch.from_numpy(R_np).to(device)
    K = c.codebook_size
    books = []
    for s in range(c.num_codebooks):
        C = R[torch.from_numpy(rng.choice(len(R), K, replace=False)).to(device)].clone()
        for _ in range(iters):
            a = _assign_torch(R, C)
            cnt = torch.bincount(a, minlength=K)
            S = torch.zeros((K, R.shape[1]), dtype=torch.float64, device=device).index_add_(0, a, R.double())
            live = cnt > 0
            C[live] = (S[live] / cnt[live, None].double()).float()
            dead = int((~live).sum())
            if dead:
                C[~live] = R[torch.from_numpy(rng.choice(len(R), dead, replace=False)).to(device)]
        a = _assign_torch(R, C)
        R = R - C[a]
        books.append(C.cpu().numpy())
        log(f'codebook {s + 1}/{c.num_codebooks}: residual rms {float(R.double().pow(2).mean().sqrt()):.4f}')
    return books


def _assign_torch(R, C, chunk: int = 262144):
    import torch
    cn = (C * C).sum(1)
    return torch.cat([(cn[None] - 2.0 * (R[i:i + chunk] @ C.T)).argmin(1) for i in range(0, len(R), chunk)])


def assign(R: np.ndarray, C: np.ndarray, chunk: int = 32768) -> np.ndarray:
    """Nearest code of each row of R [N, D] in C [K, D] (squared L2)."""
    cn = (C * C).sum(1)
    return np.concatenate([(cn[None] - 2.0 * (R[i:i + chunk] @ C.T)).argmin(1) for i in range(0, len(R), chunk)])


def save(codec: MelCodec, folder: str) -> None:
    """A standalone codec folder: config.json + model.safetensors (no prefix)."""
    import os
    from safetensors.numpy import save_file
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'config.json'), 'w') as f:
        json.dump(codec.c.to_dict(), f, indent=2)
    save_file(codec.tensors(), os.path.join(folder, 'model.safetensors'), metadata={'format': 'np'})


def load(folder: str) -> MelCodec:
    import os
    from safetensors.numpy import load_file
    with open(os.path.join(folder, 'config.json')) as f:
        cfg = json.load(f)
    return MelCodec.from_tensors(cfg, load_file(os.path.join(folder, 'model.safetensors')))
