"""Shared pieces of the ttslab-mini training scripts: configs, corpus loading, spectral losses.

Runs with torch + transformers (the GPU machine's python3); nothing here downloads anything.
"""
from __future__ import annotations

import json
import math
import os

import numpy as np
import torch

RATE = 24000

# The mini Mimi: transformers' MimiConfig fields (ttslab's src/models/mimi/config.ts reads
# the same keys). Strides [8, 5, 4, 3] = 480 samples per encoder step (50 Hz), the fixed
# stride-2 downsample -> 25 Hz frames of 960 samples, 8 codebooks x 1024 codes = 2 kbit/s.
MIMI_KWARGS = dict(
    sampling_rate=RATE,
    audio_channels=1,
    hidden_size=256,
    num_filters=24,
    num_residual_layers=1,
    upsampling_ratios=[8, 5, 4, 3],
    kernel_size=7,
    last_kernel_size=3,
    residual_kernel_size=3,
    dilation_growth_rate=2,
    compress=2,
    use_causal_conv=True,
    trim_right_ratio=1.0,
    pad_mode='constant',
    codebook_size=1024,
    codebook_dim=64,
    vector_quantization_hidden_dimension=64,
    num_quantizers=8,
    num_semantic_quantizers=1,
    upsample_groups=256,
    num_hidden_layers=2,
    intermediate_size=768,
    num_attention_heads=4,
    num_key_value_heads=4,
    head_dim=64,
    hidden_act='gelu',
    max_position_embeddings=8000,
    sliding_window=250,
    norm_eps=1e-5,
    layer_scale_initial_scale=0.01,
    use_conv_shortcut=False,
)


def mimi_config():
    from transformers import MimiConfig
    return MimiConfig(**MIMI_KWARGS)


def load_corpus(folder: str) -> tuple[list[dict], np.ndarray]:
    """manifest rows and the int16 audio they index (corpus.py's output)."""
    with open(os.path.join(folder, 'manifest.jsonl')) as f:
        rows = [json.loads(line) for line in f]
    audio = np.load(os.path.join(folder, 'audio.npy'), mmap_mode='r')
    return rows, audio


def clip(audio: np.ndarray, row: dict) -> np.ndarray:
    """One clip as float32 in [-1, 1]."""
    return audio[row['offset']: row['offset'] + row['samples']].astype(np.float32) / 32768.0


def mel_filterbank(n_fft: int, n_mels: int, sr: int = RATE, fmin: float = 0.0, fmax: float | None = None) -> torch.Tensor:
    """HTK-style triangular mel filters `[n_mels, n_fft // 2 + 1]`."""
    fmax = fmax or sr / 2
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    inv = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    pts = inv(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    fb = np.zeros((n_mels, len(freqs)), dtype=np.float32)
    for i in range(n_mels):
        lo, c, hi = pts[i], pts[i + 1], pts[i + 2]
        up = (freqs - lo) / max(c - lo, 1e-6)
        down = (hi - freqs) / max(hi - c, 1e-6)
        fb[i] = np.maximum(0, np.minimum(up, down))
    return torch.from_numpy(fb)


class MultiResolutionLoss(torch.nn.Module):
    """Log-mel L1 over several STFT sizes + log-magnitude L1 (float32, whatever the autocast)."""

    def __init__(self, sizes=(256, 512, 1024, 2048), n_mels=(32, 64, 80, 128)):
        super().__init__()
        self.sizes = sizes
        for n, m in zip(sizes, n_mels):
            self.register_buffer(f'fb{n}', mel_filterbank(n, m), persistent=False)
            self.register_buffer(f'win{n}', torch.hann_window(n), persistent=False)

    def spec(self, x: torch.Tensor, n: int) -> torch.Tensor:
        s = torch.stft(x.float(), n, hop_length=n // 4, window=getattr(self, f'win{n}'), return_complex=True)
        return s.abs()  # [B, F, T]

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """y, x: `[B, samples]` decoded and original. Returns (mel L1, log-magnitude L1), each a mean over scales."""
        mel_l, mag_l = 0.0, 0.0
        for n in self.sizes:
            sy, sx = self.spec(y, n), self.spec(x, n)
            fb = getattr(self, f'fb{n}')
            my = torch.log(torch.matmul(fb, sy) + 1e-5)
            mx = torch.log(torch.matmul(fb, sx) + 1e-5)
            mel_l = mel_l + (my - mx).abs().mean()
            mag_l = mag_l + (torch.log(sy + 1e-5) - torch.log(sx + 1e-5)).abs().mean()
        return mel_l / len(self.sizes), mag_l / len(self.sizes)


def log_mel_80(x: torch.Tensor) -> torch.Tensor:
    """The evaluation's log-mel: 1024-point STFT, hop 240 (10 ms), 80 mel bands, natural log. x `[samples]`."""
    fb = mel_filterbank(1024, 80).to(x.device)
    s = torch.stft(x.float(), 1024, hop_length=240, window=torch.hann_window(1024, device=x.device), return_complex=True).abs()
    return torch.log(fb @ s + 1e-5)  # [80, frames]


def snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    n = min(len(ref), len(est))
    e = ref[:n] - est[:n]
    return float(10 * math.log10((ref[:n] ** 2).sum() / max((e ** 2).sum(), 1e-12)))
