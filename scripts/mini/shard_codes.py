"""Splits encode_corpus_mel.py's output into shards that each fit a GPU-machine call (the working
tree that travels is at most 64 MiB), so that the mini CSM trains from codes made here instead
of synthesising and encoding the corpus on the GPU machine.

    python3 scripts/mini/shard_codes.py CODES_DIR OUT_DIR [--shards N] [--limit-train K=M ...]
-> OUT_DIR/shard0 .. shard{N-1}, each a CODES_DIR of its own (manifest.jsonl, codes.npz, codec/)
that train_csm.py reads: training rows k, k+N, k+2N, ... of the manifest (with `--limit-train
K=M`, only the first M of them in shard K: what fits beside other carried files) and the eval
rows of the seen voices (train_csm.py uses no others). Codes are stored as uint8 when the
codebook size allows it (the values are unchanged).

    python3 scripts/mini/shard_codes.py --merge OUT_DIR SHARD_DIR [SHARD_DIR ...]
-> one CODES_DIR again: the training rows of every shard, the eval rows once.
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np


def load(d: str) -> tuple[list[dict], list[np.ndarray]]:
    """(manifest rows, codes [frames, codebooks] of each row) of a CODES_DIR."""
    rows = [json.loads(line) for line in open(os.path.join(d, 'manifest.jsonl'))]
    z = np.load(os.path.join(d, 'codes.npz'))
    codes, frames = z['codes'], z['frames']
    if len(frames) != len(rows):
        raise SystemExit(f'{d}/codes.npz has {len(frames)} clips, manifest.jsonl {len(rows)} rows')
    starts = np.concatenate([[0], np.cumsum(frames)[:-1]]).astype(np.int64)
    return rows, [codes[s: s + n] for s, n in zip(starts, frames)]


def merge(out: str, shards: list[str]) -> None:
    rows, clips = [], []
    for k, d in enumerate(shards):
        r, c = load(d)
        for row, clip in zip(r, c):
            if row['split'] == 'train' or k == 0:
                rows.append(row)
                clips.append(clip)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, 'manifest.jsonl'), 'w') as f:
        for row in rows:
            f.write(json.dumps(row) + '\n')
    np.savez(os.path.join(out, 'codes.npz'), codes=np.concatenate(clips), frames=np.array([len(c) for c in clips], dtype=np.int64))
    shutil.copytree(os.path.join(shards[0], 'codec'), os.path.join(out, 'codec'), dirs_exist_ok=True)
    print(f'{out}: {len(rows)} clips from {len(shards)} shards', flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == '--merge':
        if len(sys.argv) < 4:
            raise SystemExit('usage: shard_codes.py --merge OUT_DIR SHARD_DIR [SHARD_DIR ...]')
        merge(sys.argv[2], sys.argv[3:])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument('codes')
    ap.add_argument('out')
    ap.add_argument('--shards', type=int, default=2)
    ap.add_argument('--limit-train', nargs='*', default=[], metavar='K=M', help='at most M training rows in shard K')
    a = ap.parse_args()
    limits = {}
    for spec in a.limit_train:
        k, _, m = spec.partition('=')
        if not (k.isdigit() and m.isdigit() and int(k) < a.shards):
            raise SystemExit(f'--limit-train {spec!r}: expected SHARD=ROWS with SHARD < {a.shards}')
        limits[int(k)] = int(m)
    rows, clips = load(a.codes)
    codes = np.concatenate(clips)
    dtype = np.uint8 if codes.min() >= 0 and codes.max() < 256 else codes.dtype
    train = [i for i, r in enumerate(rows) if r['split'] == 'train']
    seen_eval = [i for i, r in enumerate(rows) if r['split'] != 'train' and r['seen']]
    for k in range(a.shards):
        keep = sorted(train[k::a.shards][:limits.get(k)] + seen_eval)
        d = os.path.join(a.out, f'shard{k}')
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, 'manifest.jsonl'), 'w') as f:
            for i in keep:
                f.write(json.dumps(rows[i]) + '\n')
        frames = np.array([len(clips[i]) for i in keep], dtype=np.int64)
        np.savez_compressed(os.path.join(d, 'codes.npz'), codes=np.concatenate([clips[i] for i in keep]).astype(dtype), frames=frames)
        shutil.copytree(os.path.join(a.codes, 'codec'), os.path.join(d, 'codec'), dirs_exist_ok=True)
        size = os.path.getsize(os.path.join(d, 'codes.npz'))
        print(f'{d}: {len(keep)} clips, {int(frames.sum())} frames, codes.npz {size / 2 ** 20:.1f} MiB', flush=True)

if __name__ == '__main__':
    main()
