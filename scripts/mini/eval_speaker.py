"""Equal error rate of a mini speaker encoder on speakers it never heard.

    python3 scripts/mini/eval_speaker.py MODEL_DIR CORPUS_DIR OUT_JSON [--limit N]

MODEL_DIR: train_speaker.py's output (transformers' from_pretrained, F32). CORPUS_DIR:
asr_spk_data.py's corpus; its split "eval" rows are 50 held-out sentences spoken by 16 voices
no training clip uses: group "unseen" (flite slt, espeak-ng en-us+f4, en-gb+m6,
en-gb-x-rp+m5) and group "heldout" (12 espeak-ng voices whose variants are held out).

Each whole clip (16 kHz, normalised as Wav2Vec2FeatureExtractor does) gives the x-vector
`embeddings`; every pair of clips is a trial scored by cosine similarity, target when both
clips are of one voice. EER = the error rate where the false-acceptance and false-rejection
rates meet (linear interpolation between the two thresholds that bracket the crossing).
Reported for all 16 voices, for the 4 "unseen" ones alone and for the 12 "heldout" ones.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_whisper import load_corpus  # noqa: E402


def eer(scores: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(EER, threshold) of trial scores; target: bool per trial."""
    order = np.argsort(-scores, kind='stable')
    s, t = scores[order], target[order]
    n_t, n_n = t.sum(), (~t).sum()
    if n_t == 0 or n_n == 0:
        raise ValueError('EER needs target and non-target trials')
    # Accept the first k trials (threshold between s[k-1] and s[k]).
    far = np.concatenate([[0.0], np.cumsum(~t) / n_n])
    frr = np.concatenate([[1.0], 1.0 - np.cumsum(t) / n_t])
    d = far - frr
    k = int(np.nonzero(d >= 0)[0][0])
    if k == 0:
        return 0.0, float(s[0])
    w = -d[k - 1] / (d[k] - d[k - 1])
    rate = far[k - 1] + w * (far[k] - far[k - 1])
    return float(rate), float(s[k - 1])


def trials(emb: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    sim = e @ e.T
    lab = np.array(labels)
    iu = np.triu_indices(len(labels), 1)
    return sim[iu], (lab[:, None] == lab[None, :])[iu]


@torch.no_grad()
def embed(model, audio: np.ndarray, rows: list[dict]) -> np.ndarray:
    dev = next(model.parameters()).device
    out = []
    for r in rows:
        x = torch.from_numpy(audio[r['offset']: r['offset'] + r['samples']].astype(np.float32) / 32768.0).to(dev)
        x = (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-7)
        out.append(model(input_values=x[None]).embeddings[0].float().cpu().numpy())
    return np.stack(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('model')
    ap.add_argument('corpus')
    ap.add_argument('out')
    ap.add_argument('--limit', type=int, default=0, help='clips per voice (0: all)')
    a = ap.parse_args()
    from transformers import WavLMForXVector
    t0 = time.time()
    dev = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    model = WavLMForXVector.from_pretrained(a.model, dtype=torch.float32).to(dev).eval()
    rows, audio = load_corpus(a.corpus)
    evals = [r for r in rows if r['split'] == 'eval']
    if a.limit:
        count: dict[str, int] = {}
        kept = []
        for r in evals:
            if count.get(r['speaker'], 0) < a.limit:
                kept.append(r)
            count[r['speaker']] = count.get(r['speaker'], 0) + 1
        evals = kept
    emb = embed(model, audio, evals)
    result: dict = dict(model=a.model, clips=len(evals), voices=sorted({r['speaker'] for r in evals}))
    for name, keep in (('all', lambda r: True), ('unseen', lambda r: r['group'] == 'unseen'), ('heldout', lambda r: r['group'] == 'heldout')):
        idx = [i for i, r in enumerate(evals) if keep(r)]
        labels = [evals[i]['speaker'] for i in idx]
        if len(set(labels)) < 2:
            continue
        s, t = trials(emb[idx], labels)
        rate, thr = eer(s, t)
        result[name] = dict(eer=round(rate, 4), threshold=round(thr, 4), voices=len(set(labels)), clips=len(idx),
                            target_trials=int(t.sum()), nontarget_trials=int((~t).sum()),
                            mean_target_cos=round(float(s[t].mean()), 4), mean_nontarget_cos=round(float(s[~t].mean()), 4))
        print(f'eval_speaker {name}: EER {rate:.4f} at cos {thr:.3f} ({len(set(labels))} voices, {len(idx)} clips, '
              f'{int(t.sum())} target / {int((~t).sum())} non-target trials; mean cos {s[t].mean():.3f} vs {s[~t].mean():.3f})', flush=True)
    # Per voice: mean cosine to its own other clips and to the nearest other voice's clips.
    voices = sorted({r['speaker'] for r in evals})
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    lab = np.array([r['speaker'] for r in evals])
    per = {}
    for v in voices:
        a_ = e[lab == v]
        own = a_ @ a_.T
        n = len(a_)
        others = {u: float((a_ @ e[lab == u].T).mean()) for u in voices if u != v}
        near = max(others, key=others.get)
        per[v] = dict(own=round(float((own.sum() - n) / max(n * (n - 1), 1)), 4), nearest=near, nearest_cos=round(others[near], 4))
    result['per_voice'] = per
    result['seconds'] = round(time.time() - t0, 1)
    with open(a.out, 'w') as f:
        json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
