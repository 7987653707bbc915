"""Encodes every clip of a corpus (corpus.py's output) with the trained mini codec (melcodec.py).

    python3 scripts/mini/encode_corpus_mel.py CORPUS_DIR CODEC_DIR OUT_DIR [--jobs N]
-> OUT_DIR/codes.npz (codes [sum frames, num_codebooks] int16 and frames per clip, manifest
order), OUT_DIR/manifest.jsonl and OUT_DIR/codec/ (a copy of CODEC_DIR): the input
train_csm.py reads. numpy only; clips are encoded in parallel processes.
"""
import argparse
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import melcodec  # noqa: E402

_CODEC = None


def _init(codec_dir: str) -> None:
    global _CODEC
    _CODEC = melcodec.load(codec_dir)


def _encode(x: np.ndarray) -> np.ndarray:
    return _CODEC.encode(x.astype(np.float64) / 32767.0).astype(np.int16)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('corpus')
    ap.add_argument('codec')
    ap.add_argument('out')
    ap.add_argument('--jobs', type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    t0 = time.time()
    rows = [json.loads(line) for line in open(os.path.join(a.corpus, 'manifest.jsonl'))]
    audio = np.load(os.path.join(a.corpus, 'audio.npy'), mmap_mode='r')
    with ProcessPoolExecutor(a.jobs, initializer=_init, initargs=(a.codec,)) as ex:
        codes = list(ex.map(_encode, (np.asarray(audio[r['offset']:r['offset'] + r['samples']]) for r in rows), chunksize=16))
    os.makedirs(a.out, exist_ok=True)
    frames = np.array([len(c) for c in codes], dtype=np.int64)
    np.savez_compressed(os.path.join(a.out, 'codes.npz'), codes=np.concatenate(codes), frames=frames)
    shutil.copy(os.path.join(a.corpus, 'manifest.jsonl'), os.path.join(a.out, 'manifest.jsonl'))
    if os.path.abspath(os.path.join(a.out, 'codec')) != os.path.abspath(a.codec):
        shutil.copytree(a.codec, os.path.join(a.out, 'codec'), dirs_exist_ok=True)
    print(f'encode: {len(rows)} clips, {frames.sum()} frames in {time.time() - t0:.0f} s -> {a.out}', flush=True)


if __name__ == '__main__':
    main()
