"""The corpus of the mini Whisper and the mini speaker encoder (issue 9): more voices and more
words than corpus.py's, at 16 kHz (both models hear 16 kHz), with held-out speakers for the
speaker encoder's equal error rate.

    python3 scripts/mini/asr_spk_data.py corpus OUT_DIR --words WORDS.txt [--tools DIR] [--jobs 16]
        [--corpus-clips 300] [--extra-clips 100] [--flite-clips 200] [--smoke]
    python3 scripts/mini/asr_spk_data.py words WORDS.txt     # (here, needs Debian's `scowl`)
    python3 scripts/mini/asr_spk_data.py check WORDS.txt     # overlap / OOV figures, no synthesis

Voices (speaker = engine voice + its settings):
- training: corpus.py's 24 TRAIN_SPEAKERS; EXTRA_FLITE (flite kal16 at other pitches and
  rates, awb / rms / kal at other rates); EXTRA_ESPEAK_N espeak-ng speakers drawn (seeded)
  from TRAIN_VARIANTS x DIALECTS x pitch x rate.
- unseen (never in training, for either model): corpus.py's UNSEEN_SPEAKERS (flite slt, the
  sample talk's voice, and espeak-ng en-us+f4, en-gb+m6, en-gb-x-rp+m5) and HELDOUT_SPEAKERS,
  12 more espeak-ng speakers whose variants (voice files) no training speaker uses, so the
  speaker encoder's EER is measured on 16 speakers it never heard.
Every unseen speaker speaks the 50 held-out sentences of corpus_text.sentences('eval', 50)
(split "eval"); no training clip uses them.

Text of the training clips: corpus_text.sentences('train', ...) (self-written templates and
sentences) for TEXT_CORPUS_FRACTION of the clips, the rest "word lists": 3 to 10 words drawn
from WORDS.txt, the lower-case words of SCOWL size 10 and 20 (Debian package `scowl`,
english/british/american-words.10/.20: about 11,000 common English words; SCOWL's licence
permits any use with its notice, which the model card carries). The word lists teach spelling
from sound beyond the templates' 1,100 words; without them 27% of the held-out sentences'
words would never be heard in training, with them 5%.

Writes OUT_DIR/audio.npy (int16, 16 kHz, every clip concatenated) and OUT_DIR/manifest.jsonl:
{"text", "speaker", "speaker_idx" (0.. over training speakers, -1 unseen), "split" ("train" |
"eval"), "group" ("corpus" | "extra" | "unseen" | "heldout"), "offset", "samples", "seconds"}.
Needs numpy only (and flite / espeak-ng).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402  (the lead's corpus.py: voices, tools, resampling, trimming)
from corpus_text import sentences  # noqa: E402

RATE = 16000
TEXT_CORPUS_FRACTION = 0.55
SEED = 9

# flite voices at settings corpus.py does not use (kal16 takes pitch and duration, the
# clustergen awb / rms duration only; kal is an 8 kHz diphone voice).
EXTRA_FLITE: list[tuple[str, str, list[str]]] = []
for _f0 in (95, 150, 175, 200):
    for _st in (0.88, 1.12):
        EXTRA_FLITE.append((f'flite-kal16-f{_f0}-d{_st}', 'flite',
                            ['-voice', 'kal16', '--setf', f'int_f0_target_mean={_f0}', '--setf', f'duration_stretch={_st}']))
for _v, _sts in (('awb', (0.85, 1.3)), ('rms', (0.82, 1.25)), ('kal', (0.9, 1.2))):
    for _st in _sts:
        EXTRA_FLITE.append((f'flite-{_v}-d{_st}', 'flite', ['-voice', _v, '--setf', f'duration_stretch={_st}']))

# espeak-ng voice variants (espeak-ng-data/voices/!v). HELDOUT_VARIANTS and the unseen
# corpus voices' variants (f4, m5, m6) are never used for training.
TRAIN_VARIANTS = """m1 m2 m3 m4 m7 f1 f2 f3 f5 klatt klatt2 klatt4 croak Alex Alicia Andrea Andy
AnxiousAndy Denis Diogo Gene Gene2 Henrique Hugo Jacky Lee Marco Michael Mike Nguyen Storm
Tweaky adam anika announcer antonio aunty belinda benjamin boris caleb david ed edward edward2
grandpa john max michel miguel norbert paul pedro quincy rob robert sandro shelby victor zac""".split()
# 'en', not 'en-gb': espeak-ng 1.51 ignores the variant after 'en-gb' (en-gb+m1, +f2, +m3,
# +klatt, +m6 give bit-identical audio at equal pitch and rate), while 'en+m1' applies it.
DIALECTS = ['en-us', 'en', 'en-gb-scotland', 'en-029', 'en-gb-x-rp', 'en-gb-x-gbclan', 'en-gb-x-gbcwmd', 'en-us-nyc']
EXTRA_ESPEAK_N = 136

HELDOUT_SPEAKERS: list[tuple[str, str, list[str]]] = [
    ('espeak-ho-annie', 'espeak', ['-v', 'en-us+Annie', '-p', '60', '-s', '165']),
    ('espeak-ho-mario', 'espeak', ['-v', 'en+Mario', '-p', '40', '-s', '170']),
    ('espeak-ho-linda', 'espeak', ['-v', 'en-us+linda', '-p', '65', '-s', '160']),
    ('espeak-ho-gustave', 'espeak', ['-v', 'en-gb-scotland+gustave', '-p', '45', '-s', '175']),
    ('espeak-ho-steph2', 'espeak', ['-v', 'en-us+steph2', '-p', '55', '-s', '170']),
    ('espeak-ho-kaukovalta', 'espeak', ['-v', 'en-029+kaukovalta', '-p', '40', '-s', '165']),
    ('espeak-ho-m8', 'espeak', ['-v', 'en-us+m8', '-p', '45', '-s', '160']),
    ('espeak-ho-iven3', 'espeak', ['-v', 'en-gb-x-rp+iven3', '-p', '50', '-s', '170']),
    ('espeak-ho-pablo', 'espeak', ['-v', 'en-us+pablo', '-p', '50', '-s', '165']),
    ('espeak-ho-grandma', 'espeak', ['-v', 'en+grandma', '-p', '55', '-s', '150']),
    ('espeak-ho-klatt3', 'espeak', ['-v', 'en-us+klatt3', '-p', '50', '-s', '170']),
    ('espeak-ho-travis', 'espeak', ['-v', 'en-us-nyc+travis', '-p', '45', '-s', '175']),
]
HELDOUT_VARIANTS = {'f4', 'm5', 'm6', 'Annie', 'Mario', 'linda', 'gustave', 'steph', 'steph2', 'steph3', 'kaukovalta',
                    'm8', 'iven', 'iven2', 'iven3', 'iven4', 'pablo', 'grandma', 'klatt3', 'travis'}
assert not HELDOUT_VARIANTS & set(TRAIN_VARIANTS), 'a held-out variant is in TRAIN_VARIANTS'


def extra_espeak(n: int = EXTRA_ESPEAK_N, seed: int = SEED) -> list[tuple[str, str, list[str]]]:
    """n seeded espeak-ng training speakers: each variant in turn, a random dialect, pitch and rate."""
    rng = random.Random(seed)
    out, seen = [], set()
    i = 0
    while len(out) < n:
        v = TRAIN_VARIANTS[i % len(TRAIN_VARIANTS)]
        i += 1
        d, p, s = rng.choice(DIALECTS), rng.randrange(25, 76, 5), rng.randrange(145, 190, 5)
        if (v, d, p) in seen:
            continue
        seen.add((v, d, p))
        out.append((f'espeak-x-{v}-{d}-p{p}-s{s}', 'espeak', ['-v', f'{d}+{v}', '-p', str(p), '-s', str(s)]))
    return out


def train_speakers() -> list[tuple[str, str, list[str]]]:
    """Every training speaker, in speaker_idx order."""
    return list(corpus.TRAIN_SPEAKERS) + EXTRA_FLITE + extra_espeak()


def unseen_speakers() -> list[tuple[str, str, list[str]]]:
    return list(corpus.UNSEEN_SPEAKERS) + HELDOUT_SPEAKERS


def check_disjoint() -> None:
    """No training speaker shares a voice with an unseen one (flite slt; the held-out variants)."""
    for name, engine, args in train_speakers():
        if engine == 'flite' and args[1] == 'slt':
            raise ValueError(f'training speaker {name} uses flite slt, the held-out voice')
        if engine == 'espeak':
            variant = args[1].split('+')[1] if '+' in args[1] else ''
            if variant in HELDOUT_VARIANTS:
                raise ValueError(f'training speaker {name} uses the held-out espeak-ng variant {variant}')
    names = [s[0] for s in train_speakers() + unseen_speakers()]
    if len(names) != len(set(names)):
        raise ValueError('speaker names are not unique')


def load_words(path: str) -> list[str]:
    with open(path) as f:
        words = [w.strip() for w in f if w.strip()]
    if len(words) < 1000 or not all(re.fullmatch('[a-z]+', w) for w in words):
        raise ValueError(f'{path}: expected >= 1000 lower-case words a line (asr_spk_data.py words), got {len(words)}')
    return words


def word_list_sentence(words: list[str], rng: random.Random) -> str:
    ws = [rng.choice(words) for _ in range(rng.randint(3, 10))]
    ws[0] = ws[0][0].upper() + ws[0][1:]
    return ' '.join(ws) + rng.choice(['.', '.', '.', '?', '!'])


def plan(words: list[str], corpus_clips: int, extra_clips: int, flite_clips: int, eval_sentences: int, smoke: bool) -> list[dict]:
    rng = random.Random(SEED)
    pool = sentences('train', 20000)
    held = set(sentences('eval', eval_sentences))
    assert not held & set(pool)
    rows: list[dict] = []
    speakers = train_speakers()
    n_corpus, n_flite = len(corpus.TRAIN_SPEAKERS), len(EXTRA_FLITE)
    for idx, (name, engine, args) in enumerate(speakers):
        n = corpus_clips if idx < n_corpus else flite_clips if idx < n_corpus + n_flite else extra_clips
        if smoke:
            if idx % 20:
                continue
            n = 6
        for _ in range(n):
            text = rng.choice(pool) if rng.random() < TEXT_CORPUS_FRACTION else word_list_sentence(words, rng)
            rows.append(dict(text=text, speaker=name, speaker_idx=idx, split='train', group='corpus' if idx < n_corpus else 'extra',
                             engine=engine, args=args))
    evals = sentences('eval', eval_sentences)
    for k, (name, engine, args) in enumerate(unseen_speakers()):
        if smoke and k % 4:
            continue
        for text in (evals[:4] if smoke else evals):
            rows.append(dict(text=text, speaker=name, speaker_idx=-1, split='eval',
                             group='unseen' if k < len(corpus.UNSEEN_SPEAKERS) else 'heldout', engine=engine, args=args))
    return rows


def synth16(job: tuple[int, str, str, list[str], str | None, str]) -> tuple[int, np.ndarray]:
    """corpus.py's synthesis, resampled to 16 kHz instead of 24 kHz."""
    i, text, engine, args, tools, tmp = job
    out = os.path.join(tmp, f'{i}.wav')
    if engine == 'flite':
        cmd = corpus.tool_cmd('flite', tools) + args + ['-t', text, '-o', out]
    else:
        cmd = corpus.tool_cmd('espeak', tools) + args + ['-w', out, text]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(out):
        raise RuntimeError(f'{" ".join(cmd[-6:])} failed ({r.returncode}): {r.stderr.strip()[:300]}')
    x, sr = corpus.read_wav(out)
    os.unlink(out)
    y = corpus.trim_and_level(corpus.resample_fft(x, sr, RATE), RATE)
    return i, (y * 32767).astype(np.int16)


def build(out: str, words_path: str, tools: str | None, jobs: int, corpus_clips: int, extra_clips: int, flite_clips: int, smoke: bool) -> None:
    check_disjoint()
    t0 = time.time()
    rows = plan(load_words(words_path), corpus_clips, extra_clips, flite_clips, 50, smoke)
    os.makedirs(out, exist_ok=True)
    audio: list[np.ndarray | None] = [None] * len(rows)
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(jobs) as ex:
        todo = [(i, r['text'], r['engine'], r['args'], tools, tmp) for i, r in enumerate(rows)]
        for i, y in ex.map(synth16, todo, chunksize=32):
            audio[i] = y
    offset = 0
    with open(os.path.join(out, 'manifest.jsonl'), 'w') as f:
        for r, y in zip(rows, audio):
            rec = {k: r[k] for k in ('text', 'speaker', 'speaker_idx', 'split', 'group')}
            rec.update(offset=offset, samples=len(y), seconds=round(len(y) / RATE, 3))
            f.write(json.dumps(rec) + '\n')
            offset += len(y)
    np.save(os.path.join(out, 'audio.npy'), np.concatenate(audio))
    hours = {s: sum(len(y) for r, y in zip(rows, audio) if r['split'] == s) / RATE / 3600 for s in ('train', 'eval')}
    n_train = len({r['speaker'] for r in rows if r['split'] == 'train'})
    n_eval = len({r['speaker'] for r in rows if r['split'] == 'eval'})
    print(f'asr/spk corpus: {len(rows)} clips, train {hours["train"]:.2f} h ({n_train} speakers), eval {hours["eval"]:.2f} h '
          f'({n_eval} unseen speakers) in {time.time() - t0:.0f} s -> {out}', flush=True)


def write_words(path: str) -> None:
    """SCOWL sizes 10 and 20, lower-case alphabetic words only (Debian's scowl package)."""
    files = []
    for kind in ('english', 'british', 'american'):
        for size in ('10', '20'):
            files += glob.glob(f'/usr/share/dict/scowl/{kind}-words.{size}')
    if len(files) != 6:
        raise SystemExit(f'found {len(files)} of the 6 SCOWL lists under /usr/share/dict/scowl: apt-get install scowl')
    words = set()
    for fn in files:
        with open(fn, encoding='latin-1') as f:
            words.update(w.strip() for w in f if re.fullmatch('[a-z]+', w.strip()))
    with open(path, 'w') as f:
        f.write('\n'.join(sorted(words)) + '\n')
    print(f'{len(words)} words -> {path}')


def check(words_path: str) -> None:
    """How many held-out words the training text can contain (printed for the model card)."""
    tok = lambda s: re.findall(r"[a-z']+", s.lower())  # noqa: E731
    evals = [w for s in sentences('eval', 50) for w in tok(s)]
    base = {w for s in sentences('train', 20000) for w in tok(s)}
    both = base | set(load_words(words_path))
    for name, vocab in (('corpus_text', base), ('corpus_text + word lists', both)):
        oov = [w for w in evals if w not in vocab]
        print(f'{name}: {len(vocab)} word types; held-out words not in it: {len(oov)}/{len(evals)} = {len(oov) / len(evals):.3f}')
    check_disjoint()
    print(f'{len(train_speakers())} training speakers, {len(unseen_speakers())} unseen')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('verb', choices=['corpus', 'words', 'check'])
    ap.add_argument('path')
    ap.add_argument('--words')
    ap.add_argument('--tools', default=None)
    ap.add_argument('--jobs', type=int, default=os.cpu_count() or 1)
    ap.add_argument('--corpus-clips', type=int, default=300)
    ap.add_argument('--extra-clips', type=int, default=100)
    ap.add_argument('--flite-clips', type=int, default=200)
    ap.add_argument('--smoke', action='store_true', help='a few clips of a few voices (checks the pipeline)')
    a = ap.parse_args()
    if a.verb == 'words':
        write_words(a.path)
    elif a.verb == 'check':
        check(a.path)
    else:
        if not a.words:
            raise SystemExit('corpus needs --words WORDS.txt (asr_spk_data.py words WORDS.txt)')
        build(a.path, a.words, a.tools, a.jobs, a.corpus_clips, a.extra_clips, a.flite_clips, a.smoke)


if __name__ == '__main__':
    main()
