"""Encodes every clip of a corpus (corpus.py's output) with a trained mini Mimi.

    python3 scripts/mini/encode_corpus.py CORPUS_DIR MIMI_DIR OUT_DIR
-> OUT_DIR/codes.npz (codes [sum frames, 8] int16 and frames per clip, manifest order) and
OUT_DIR/manifest.jsonl: the input train_csm.py reads (with MIMI_DIR as its codec's mimi/).
"""
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import load_corpus  # noqa: E402
from train_codec import encode_all  # noqa: E402


def main() -> None:
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    corpus, mimi_dir, out = sys.argv[1:]
    from transformers import MimiModel
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    model = MimiModel.from_pretrained(mimi_dir, dtype=torch.float32).to(dev).eval()
    rows, audio = load_corpus(corpus)
    codes, frames = encode_all(model, rows, audio, dev)
    os.makedirs(out, exist_ok=True)
    np.savez_compressed(os.path.join(out, 'codes.npz'), codes=codes, frames=frames)
    shutil.copy(os.path.join(corpus, 'manifest.jsonl'), os.path.join(out, 'manifest.jsonl'))
    if os.path.abspath(os.path.join(out, 'mimi')) != os.path.abspath(mimi_dir):
        shutil.copytree(mimi_dir, os.path.join(out, 'mimi'), dirs_exist_ok=True)
    print(f'encode: {len(rows)} clips, codes {codes.shape} -> {out}', flush=True)


if __name__ == '__main__':
    main()
