"""Trains the ttslab-mini codec (scripts/mini/melcodec.py) on a corpus made by corpus.py and
measures its intelligibility with Debian's pocketsphinx. numpy + scipy only (no torch): it runs
on a 2-core CPU machine.

    python3 scripts/mini/train_melcodec.py CORPUS OUT [--augment 1.15,1.3] [--jobs 2]
        [--dim 128] [--codebooks 32] [--codebook-size 1024] [--frames-per-code 8]
        [--iters 10] [--device cuda] [--eval-voices flite-slt,flite-rms] [--eval-sentences 50]

Training data: every 'train' clip of CORPUS, plus for each --augment factor f a copy of every
other clip resampled by 1/f (speech f times faster and higher: it widens the pitch and formant
range the codebooks see; the held-out voices are never used). Writes OUT/config.json,
OUT/model.safetensors (codec alone, no prefix) and OUT/codec_eval.json: pocketsphinx word error
rate on the corpus's 'eval' clips (held-out sentences) of --eval-voices, original vs decoded
(--eval-voices '' skips it: the GPU machine has no pocketsphinx).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import melcodec  # noqa: E402
from corpus import resample_fft  # noqa: E402

_CFG: melcodec.MelCodecConfig | None = None
_FB: np.ndarray | None = None


def _init(cfg: dict) -> None:
    global _CFG, _FB
    _CFG = melcodec.MelCodecConfig(**cfg)
    _FB = melcodec.mel_filters(_CFG)


def _patches(x: np.ndarray) -> np.ndarray:
    return melcodec.patches(x.astype(np.float64) / 32767.0, _CFG, _FB).astype(np.float32)


def _patches_aug(job: tuple[np.ndarray, float]) -> np.ndarray:
    x, f = job
    y = resample_fft(x.astype(np.float32) / 32767.0, 24000, int(round(24000 / f)))
    return melcodec.patches(y.astype(np.float64), _CFG, _FB).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('corpus')
    ap.add_argument('out')
    ap.add_argument('--augment', default='1.15,1.3')
    ap.add_argument('--jobs', type=int, default=os.cpu_count() or 1)
    ap.add_argument('--dim', type=int, default=128)
    ap.add_argument('--codebooks', type=int, default=32)
    ap.add_argument('--codebook-size', type=int, default=1024)
    ap.add_argument('--frames-per-code', type=int, default=8)
    ap.add_argument('--iters', type=int, default=10)
    ap.add_argument('--device', default=None, help="a torch device ('cuda') for the k-means; default numpy")
    ap.add_argument('--eval-only', action='store_true', help='OUT already holds a codec: only judge it')
    ap.add_argument('--eval-voices', default='flite-slt,flite-rms')
    ap.add_argument('--eval-sentences', type=int, default=50)
    a = ap.parse_args()
    t0 = time.time()
    cfg = melcodec.MelCodecConfig(dim=a.dim, num_codebooks=a.codebooks, codebook_size=a.codebook_size, frames_per_code=a.frames_per_code)
    rows = [json.loads(line) for line in open(os.path.join(a.corpus, 'manifest.jsonl'))]
    audio = np.load(os.path.join(a.corpus, 'audio.npy'), mmap_mode='r')
    clip = lambda r: np.asarray(audio[r['offset']:r['offset'] + r['samples']])  # noqa: E731
    train = [r for r in rows if r['split'] == 'train']
    factors = [float(f) for f in a.augment.split(',') if f]
    if a.eval_only:
        codec = melcodec.load(a.out)
        cfg = codec.c
        evaluate(codec, cfg, rows, clip, a, t0, {'config': cfg.to_dict(), 'voices': {}})
        return
    with ProcessPoolExecutor(a.jobs, initializer=_init, initargs=(cfg.to_dict(),)) as ex:
        feats = list(ex.map(_patches, (clip(r) for r in train), chunksize=32))
        for f in factors:
            feats += list(ex.map(_patches_aug, ((clip(r), f) for r in train[::2]), chunksize=32))
    X = np.concatenate(feats)
    print(f'{len(train)} training clips ({sum(r["seconds"] for r in train) / 3600:.2f} h) + augment {factors} on half of them: '
          f'{len(X)} patches of {cfg.patch} ({time.time() - t0:.0f} s)', flush=True)
    codec = melcodec.fit(X, cfg, iters=a.iters, device=a.device, log=lambda m: print(f'{m} ({time.time() - t0:.0f} s)', flush=True))
    del X
    melcodec.save(codec, a.out)
    codec = melcodec.load(a.out)  # evaluate what was stored (F16 codebooks)
    report: dict = {'config': cfg.to_dict(), 'train_clips': len(train), 'augment': factors,
                    'bits_per_second': cfg.num_codebooks * float(np.log2(cfg.codebook_size)) * cfg.sampling_rate / cfg.frame_samples,
                    'voices': {}}
    evaluate(codec, cfg, rows, clip, a, t0, report)


def evaluate(codec, cfg, rows, clip, a, t0, report: dict) -> None:
    voices = [v for v in a.eval_voices.split(',') if v]
    if voices:
        from asr_judge import recognise, word_errors
    for voice in voices:
        ev = [r for r in rows if r['split'] == 'eval' and r['speaker'] == voice][:a.eval_sentences]
        if not ev:
            raise SystemExit(f'{a.corpus}: no eval clips of voice {voice}')
        e0 = e1 = n = 0
        for r in ev:
            x = clip(r).astype(np.float64) / 32767.0
            y = codec.decode(codec.encode(x))[:len(x)]
            e0 += word_errors(r['text'], recognise(x, 24000))
            e1 += word_errors(r['text'], recognise(y, 24000))
            n += len(r['text'].split())
        report['voices'][voice] = {'sentences': len(ev), 'words': n, 'wer_original': e0 / n, 'wer_decoded': e1 / n, 'ratio': (e1 / n) / max(e0 / n, 1e-9)}
        print(f'{voice}: {len(ev)} held-out sentences, {n} words: WER original {e0 / n:.3f}, decoded {e1 / n:.3f} ({time.time() - t0:.0f} s)', flush=True)
    if report['voices']:
        with open(os.path.join(a.out, 'codec_eval.json'), 'w') as f:
            json.dump(report, f, indent=2)


if __name__ == '__main__':
    main()
