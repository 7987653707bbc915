"""Word error rate of a mini Whisper checkpoint on the held-out sentences of unseen voices.

    python3 scripts/mini/eval_whisper.py MODEL_DIR CORPUS_DIR OUT_JSON [--limit N] [--batch 50]

MODEL_DIR: train_whisper.py's output (loaded with transformers' from_pretrained, F32).
CORPUS_DIR: asr_spk_data.py's corpus; its split "eval" rows are the 50 held-out sentences
spoken by each unseen voice: group "unseen" (flite slt, espeak-ng en-us+f4, en-gb+m6,
en-gb-x-rp+m5: acceptance 4 of issue 9) and group "heldout" (12 more espeak-ng voices).

Each clip is transcribed alone (padded to 30 s, as ttslab's ASR verifier does) with
transformers' generate: greedy, language "en", task "transcribe", timestamps on (ttslab's
`transcribe` default) and, for comparison, off. Both texts pass through the Python port of
ttslab's WER normaliser (test/fixtures/make_wer_fixtures.py `normalize_english`, kept in step
with src/eval/normalize.ts); WER = word edits / reference words, pooled over clips.
Writes OUT_JSON: per group and per voice WER, and every transcript.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', '..', 'test', 'fixtures'))
from make_wer_fixtures import normalize_english  # noqa: E402
from train_whisper import WINDOW, LogMel, decode_text, load_corpus  # noqa: E402


def word_edits(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance over words (substitutions + deletions + insertions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def wer_of(pairs: list[tuple[str, str]]) -> dict:
    edits = words = 0
    for ref, hyp in pairs:
        r, h = normalize_english(ref).split(), normalize_english(hyp).split()
        edits += word_edits(r, h)
        words += len(r)
    return dict(wer=round(edits / max(words, 1), 4), edits=edits, words=words, clips=len(pairs))


@torch.no_grad()
def transcribe(model, logmel, audio: np.ndarray, rows: list[dict], batch: int, timestamps: bool) -> list[str]:
    dev = next(model.parameters()).device
    out = []
    for i in range(0, len(rows), batch):
        chunk = rows[i:i + batch]
        x = torch.zeros(len(chunk), WINDOW)
        for k, r in enumerate(chunk):
            n = min(r['samples'], WINDOW)
            x[k, :n] = torch.from_numpy(audio[r['offset']: r['offset'] + n].astype(np.float32) / 32768.0)
        feats = logmel(x.to(dev))
        gen = model.generate(input_features=feats, language='en', task='transcribe', return_timestamps=timestamps,
                             max_new_tokens=220)
        seqs = gen if torch.is_tensor(gen) else gen['sequences']
        out += [decode_text(s.tolist()) for s in seqs]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('model')
    ap.add_argument('corpus')
    ap.add_argument('out')
    ap.add_argument('--limit', type=int, default=0, help='clips per voice (0: all)')
    ap.add_argument('--batch', type=int, default=50)
    a = ap.parse_args()
    from transformers import WhisperForConditionalGeneration
    t0 = time.time()
    dev = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    model = WhisperForConditionalGeneration.from_pretrained(a.model, dtype=torch.float32).to(dev).eval()
    logmel = LogMel(dev)
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
    result: dict = dict(model=a.model, clips=len(evals), decoding='greedy, language en, task transcribe, each clip padded to 30 s')
    for mode, ts in (('timestamps', True), ('no_timestamps', False)):
        hyps = transcribe(model, logmel, audio, evals, a.batch, ts)
        per_voice, per_group = {}, {}
        for r, h in zip(evals, hyps):
            per_voice.setdefault(r['speaker'], []).append((r['text'], h))
            per_group.setdefault(r['group'], []).append((r['text'], h))
        result[mode] = dict(
            groups={g: wer_of(p) for g, p in per_group.items()},
            voices={v: wer_of(p) for v, p in per_voice.items()},
            transcripts=[dict(voice=r['speaker'], ref=r['text'], hyp=h) for r, h in zip(evals, hyps)],
        )
        print(f'eval_whisper ({mode}): ' + ', '.join(f'{g} WER {w["wer"]:.3f} ({w["words"]} words)' for g, w in result[mode]['groups'].items())
              + ' | ' + ', '.join(f'{v} {w["wer"]:.3f}' for v, w in result[mode]['voices'].items()), flush=True)
    result['seconds'] = round(time.time() - t0, 1)
    for t in result['timestamps']['transcripts'][:: max(1, len(evals) // 12)]:
        print(f'  [{t["voice"]}] ref: {t["ref"]}\n  {" " * len(t["voice"])}   hyp: {t["hyp"]}')
    with open(a.out, 'w') as f:
        json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
