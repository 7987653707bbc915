"""Word error rate of generated speech by pocketsphinx (asr_judge.py), against the corpus's own
recordings of the same sentences by the same voice (issue 9, acceptance 1).

    python3 scripts/mini/judge_wavs.py GEN_DIR [--corpus CORPUS --voice flite-rms] [--json OUT.json]

GEN_DIR/manifest.jsonl from generate_eval.ts. With --corpus, the corpus clips of --voice whose
text is one of the generated sentences are judged too, and the ratio is printed.
"""
import argparse
import json
import os
import sys
import wave

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from asr_judge import recognise, word_errors  # noqa: E402


def read_wav(path: str) -> tuple[np.ndarray, int]:
    with wave.open(path) as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise SystemExit(f'{path}: need 16-bit mono, got {8 * w.getsampwidth()}-bit x {w.getnchannels()}')
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0, w.getframerate()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('gen')
    ap.add_argument('--corpus')
    ap.add_argument('--voice', default='flite-rms')
    ap.add_argument('--json')
    a = ap.parse_args()
    rows = [json.loads(line) for line in open(os.path.join(a.gen, 'manifest.jsonl')) if line.strip()]
    e = n = 0
    per = []
    for r in rows:
        x, sr = read_wav(os.path.join(a.gen, r['path']))
        hyp = recognise(x, sr)
        k = word_errors(r['text'], hyp)
        e += k
        n += len(r['text'].split())
        per.append({'text': r['text'], 'hyp': hyp, 'errors': k, 'seconds': r.get('seconds')})
    report = {'generated': {'sentences': len(rows), 'words': n, 'wer': e / n}, 'per_sentence': per}
    print(f'generated: {len(rows)} sentences, {n} words, WER {e / n:.3f}')
    if a.corpus:
        man = [json.loads(line) for line in open(os.path.join(a.corpus, 'manifest.jsonl'))]
        audio = np.load(os.path.join(a.corpus, 'audio.npy'), mmap_mode='r')
        texts = {r['text'] for r in rows}
        ref = [m for m in man if m['speaker'] == a.voice and m['text'] in texts and m['split'] == 'eval']
        e0 = n0 = 0
        for m in ref:
            x = np.asarray(audio[m['offset']:m['offset'] + m['samples']]).astype(np.float32) / 32767.0
            e0 += word_errors(m['text'], recognise(x, 24000))
            n0 += len(m['text'].split())
        report['corpus'] = {'voice': a.voice, 'sentences': len(ref), 'words': n0, 'wer': e0 / max(n0, 1)}
        report['ratio'] = (e / n) / max(e0 / max(n0, 1), 1e-9)
        print(f'corpus {a.voice}: {len(ref)} sentences, {n0} words, WER {e0 / max(n0, 1):.3f}; ratio {report["ratio"]:.2f}')
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(report, f, indent=1)


if __name__ == '__main__':
    main()
