"""Builds the ttslab-mini corpus: self-written English text (corpus_text.py) spoken by
Debian's flite and espeak-ng voices, resampled to 24 kHz.

    python3 scripts/mini/corpus.py OUT_DIR [--clips-per-speaker 130] [--eval-sentences 50]
        [--jobs 16] [--tools DIR] [--wav]

Writes
- OUT_DIR/audio.npy: every clip's int16 samples at 24 kHz, concatenated;
- OUT_DIR/manifest.jsonl: one clip a line, {"text", "speaker" (voice name), "speaker_id"
  (CSM speaker number; -1 for unseen voices), "split" ("train" | "eval"), "seen" (voice in
  training), "offset", "samples" (into audio.npy), "seconds", "path" (a wav file under
  OUT_DIR/wav/ with --wav, else null)}.

Voices: TRAIN_SPEAKERS speak `clips_per_speaker` training sentences each. Every voice, the
UNSEEN ones included (flite slt, the sample talk's voice, and three espeak-ng variants),
speaks the same `eval_sentences` held-out sentences (split "eval"), which no voice speaks
in training. Audio is trimmed to 80 ms of silence at each end and scaled to -20 dBFS RMS.

Tools: the system's /usr/bin/flite and /usr/bin/espeak-ng, or with --tools DIR a
self-contained copy (pack_tools.sh: DIR/bin, DIR/lib with its own ld-linux, DIR/espeak-ng-data),
which is how the GPU machine (no package registry) runs it.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import wave
from concurrent.futures import ProcessPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus_text import sentences  # noqa: E402

RATE = 24000

# (name, engine, args). Order = CSM speaker id. flite's kal16 takes pitch and duration
# settings; the clustergen voices (awb, rms, slt) take duration only.
TRAIN_SPEAKERS: list[tuple[str, str, list[str]]] = [
    ('flite-awb', 'flite', ['-voice', 'awb']),
    ('flite-kal16', 'flite', ['-voice', 'kal16']),
    ('flite-rms', 'flite', ['-voice', 'rms']),
    ('flite-kal', 'flite', ['-voice', 'kal']),
    ('flite-kal16-high-fast', 'flite', ['-voice', 'kal16', '--setf', 'int_f0_target_mean=125', '--setf', 'duration_stretch=0.9']),
    ('flite-awb-slow', 'flite', ['-voice', 'awb', '--setf', 'duration_stretch=1.12']),
    ('flite-rms-fast', 'flite', ['-voice', 'rms', '--setf', 'duration_stretch=0.9']),
    ('espeak-us-m1', 'espeak', ['-v', 'en-us+m1', '-p', '45', '-s', '165']),
    ('espeak-us-m2', 'espeak', ['-v', 'en-us+m2', '-p', '35', '-s', '175']),
    ('espeak-us-m3', 'espeak', ['-v', 'en-us+m3', '-p', '50', '-s', '160']),
    ('espeak-us-m4', 'espeak', ['-v', 'en-us+m4', '-p', '40', '-s', '180']),
    ('espeak-us-m7', 'espeak', ['-v', 'en-us+m7', '-p', '55', '-s', '170']),
    ('espeak-us-f1', 'espeak', ['-v', 'en-us+f1', '-p', '60', '-s', '170']),
    ('espeak-us-f2', 'espeak', ['-v', 'en-us+f2', '-p', '70', '-s', '160']),
    ('espeak-us-f3', 'espeak', ['-v', 'en-us+f3', '-p', '65', '-s', '175']),
    ('espeak-us-f5', 'espeak', ['-v', 'en-us+f5', '-p', '75', '-s', '165']),
    ('espeak-gb-m1', 'espeak', ['-v', 'en-gb+m1', '-p', '40', '-s', '170']),
    ('espeak-gb-m3-low', 'espeak', ['-v', 'en-gb+m3', '-p', '30', '-s', '155']),
    ('espeak-gb-f2', 'espeak', ['-v', 'en-gb+f2', '-p', '62', '-s', '180']),
    ('espeak-gb-klatt', 'espeak', ['-v', 'en-gb+klatt', '-p', '50', '-s', '165']),
    ('espeak-us-klatt2', 'espeak', ['-v', 'en-us+klatt2', '-p', '45', '-s', '170']),
    ('espeak-029-m2', 'espeak', ['-v', 'en-029+m2', '-p', '45', '-s', '165']),
    ('espeak-scotland-m4', 'espeak', ['-v', 'en-gb-scotland+m4', '-p', '40', '-s', '170']),
    ('espeak-us-croak', 'espeak', ['-v', 'en-us+croak', '-p', '40', '-s', '160']),
]
UNSEEN_SPEAKERS: list[tuple[str, str, list[str]]] = [
    ('flite-slt', 'flite', ['-voice', 'slt']),
    ('espeak-us-f4', 'espeak', ['-v', 'en-us+f4', '-p', '68', '-s', '168']),
    ('espeak-gb-m6', 'espeak', ['-v', 'en-gb+m6', '-p', '38', '-s', '172']),
    ('espeak-rp-m5', 'espeak', ['-v', 'en-gb-x-rp+m5', '-p', '48', '-s', '160']),
]


def tool_cmd(engine: str, tools: str | None) -> list[str]:
    """The command prefix of `engine` ('flite' | 'espeak'), system or self-contained."""
    exe = {'flite': 'flite', 'espeak': 'espeak-ng'}[engine]
    if not tools:
        return [f'/usr/bin/{exe}']
    lib = os.path.join(tools, 'lib')
    cmd = [os.path.join(lib, 'ld-linux-x86-64.so.2'), '--library-path', lib, os.path.join(tools, 'bin', exe)]
    if engine == 'espeak':
        cmd.append(f'--path={tools}')  # the folder that holds espeak-ng-data
    return cmd


def read_wav(path: str) -> tuple[np.ndarray, int]:
    with wave.open(path, 'rb') as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError(f'{path}: expected 16-bit mono, got {w.getsampwidth() * 8}-bit x {w.getnchannels()}')
        sr = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0
    return x, sr


def resample_fft(x: np.ndarray, sr: int, target: int) -> np.ndarray:
    """Band-limited resampling of a whole clip through its spectrum (fine for clips of seconds)."""
    if sr == target:
        return x
    m = int(round(len(x) * target / sr))
    spec = np.fft.rfft(x)
    keep = min(len(spec), m // 2 + 1)
    out = np.zeros(m // 2 + 1, dtype=np.complex128)
    out[:keep] = spec[:keep]
    return (np.fft.irfft(out, m) * (m / len(x))).astype(np.float32)


def trim_and_level(x: np.ndarray, sr: int, pad_s: float = 0.08, rms_db: float = -20.0) -> np.ndarray:
    """Trims leading/trailing silence (10 ms frames under peak - 40 dB), keeps pad_s each side, sets RMS."""
    hop = sr // 100
    n = len(x) // hop
    if n == 0:
        raise ValueError('clip shorter than 10 ms')
    env = np.sqrt((x[: n * hop].reshape(n, hop) ** 2).mean(1) + 1e-12)
    loud = np.nonzero(env > env.max() * 10 ** (-40 / 20))[0]
    a = max(0, loud[0] * hop - int(pad_s * sr))
    b = min(len(x), (loud[-1] + 1) * hop + int(pad_s * sr))
    y = x[a:b]
    rms = np.sqrt((y ** 2).mean())
    y = y * (10 ** (rms_db / 20) / max(rms, 1e-6))
    return np.clip(y, -1.0, 1.0)


def synth_one(job: tuple[int, str, str, list[str], str | None, str]) -> tuple[int, np.ndarray]:
    i, text, engine, args, tools, tmp = job
    out = os.path.join(tmp, f'{i}.wav')
    if engine == 'flite':
        cmd = tool_cmd('flite', tools) + args + ['-t', text, '-o', out]
    else:
        cmd = tool_cmd('espeak', tools) + args + ['-w', out, text]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(out):
        raise RuntimeError(f'{" ".join(cmd[-6:])} failed ({r.returncode}): {r.stderr.strip()[:300]}')
    x, sr = read_wav(out)
    os.unlink(out)
    y = trim_and_level(resample_fft(x, sr, RATE), RATE)
    return i, (y * 32767).astype(np.int16)


def plan(clips_per_speaker: int, eval_sentences: int, seed: int, words: list[str] | None = None, word_list_fraction: float = 0.0) -> list[dict]:
    """Every voice speaks `clips_per_speaker` training texts and the held-out sentences.

    Without `words` the training texts are drawn for each voice from one shared pool of template
    sentences. With `words` (asr_spk_data.py's SCOWL word list) every training clip has a text
    of its own: a word list (3 to 10 words, asr_spk_data.word_list_sentence) with probability
    `word_list_fraction`, else a template sentence no other clip uses: what the mini CSM needs to
    learn spelling -> sound instead of memorising sentences (models/mini/README.md).
    """
    rng = random.Random(seed)
    eval_pool = sentences('eval', eval_sentences)
    rows: list[dict] = []
    if words is None:
        train_pool = sentences('train', max(3000, clips_per_speaker * 12))
        texts = [rng.sample(train_pool, clips_per_speaker) for _ in TRAIN_SPEAKERS]
    else:
        from asr_spk_data import word_list_sentence
        unique = sentences('train', clips_per_speaker * len(TRAIN_SPEAKERS) + 5000)[5000:]  # past the pool the shared-pool corpus draws from
        rng.shuffle(unique)
        texts = [[word_list_sentence(words, rng) if rng.random() < word_list_fraction else unique.pop() for _ in range(clips_per_speaker)]
                 for _ in TRAIN_SPEAKERS]
    for sid, (name, engine, args) in enumerate(TRAIN_SPEAKERS):
        for text in texts[sid]:
            rows.append(dict(text=text, speaker=name, speaker_id=sid, split='train', seen=True, engine=engine, args=args))
    for seen, group in ((True, TRAIN_SPEAKERS), (False, UNSEEN_SPEAKERS)):
        for k, (name, engine, args) in enumerate(group):
            for text in eval_pool:
                rows.append(dict(text=text, speaker=name, speaker_id=k if seen else -1, split='eval', seen=seen, engine=engine, args=args))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('out')
    ap.add_argument('--clips-per-speaker', type=int, default=130)
    ap.add_argument('--eval-sentences', type=int, default=50)
    ap.add_argument('--jobs', type=int, default=os.cpu_count() or 1)
    ap.add_argument('--tools', default=None, help='self-contained flite/espeak-ng folder (pack_tools.sh)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--words', default=None, help='word list (asr_spk_data.py, .mini-tools/scowl-words.txt): unique texts, some of them word lists')
    ap.add_argument('--word-list-fraction', type=float, default=0.35)
    ap.add_argument('--wav', action='store_true', help='also write each clip as OUT/wav/<n>.wav')
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    words = None
    if a.words:
        from asr_spk_data import load_words
        words = load_words(a.words)
    rows = plan(a.clips_per_speaker, a.eval_sentences, a.seed, words, a.word_list_fraction)
    audio: list[np.ndarray | None] = [None] * len(rows)
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(a.jobs) as ex:
        jobs = [(i, r['text'], r['engine'], r['args'], a.tools, tmp) for i, r in enumerate(rows)]
        for i, y in ex.map(synth_one, jobs, chunksize=16):
            audio[i] = y
    if a.wav:
        os.makedirs(os.path.join(a.out, 'wav'), exist_ok=True)
    offset = 0
    with open(os.path.join(a.out, 'manifest.jsonl'), 'w') as f:
        for i, (r, y) in enumerate(zip(rows, audio)):
            path = None
            if a.wav:
                path = f'wav/{i:05d}.wav'
                with wave.open(os.path.join(a.out, path), 'wb') as w:
                    w.setnchannels(1), w.setsampwidth(2), w.setframerate(RATE), w.writeframes(y.tobytes())
            rec = {k: r[k] for k in ('text', 'speaker', 'speaker_id', 'split', 'seen')}
            rec.update(offset=offset, samples=len(y), seconds=round(len(y) / RATE, 3), path=path)
            f.write(json.dumps(rec) + '\n')
            offset += len(y)
    np.save(os.path.join(a.out, 'audio.npy'), np.concatenate(audio))
    hours = {s: sum(len(y) for r, y in zip(rows, audio) if r['split'] == s) / RATE / 3600 for s in ('train', 'eval')}
    print(f'corpus: {len(rows)} clips, train {hours["train"]:.2f} h, eval {hours["eval"]:.2f} h, '
          f'{len(TRAIN_SPEAKERS)} training voices + {len(UNSEEN_SPEAKERS)} unseen -> {a.out}', flush=True)


if __name__ == '__main__':
    main()
