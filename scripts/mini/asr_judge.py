"""The intelligibility judge of issue 9: Debian's pocketsphinx (pocketsphinx-en-us), an ASR
nobody in this project wrote. `recognise` runs pocketsphinx_continuous on 16 kHz 16-bit audio;
`word_errors` counts word-level edits after lower-casing and dropping punctuation (digits are
spelled out in the corpus text, so no number normalisation is needed).

Needs: apt-get install pocketsphinx pocketsphinx-en-us (not on the GPU machine: run it here).
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
import wave

import numpy as np

from corpus import resample_fft


def recognise(x: np.ndarray, rate: int) -> str:
    """Mono float samples in [-1, 1] at `rate` Hz -> pocketsphinx's transcript (one line)."""
    y = resample_fft(np.asarray(x, dtype=np.float32), rate, 16000)
    fd, path = tempfile.mkstemp(suffix='.wav')
    os.close(fd)
    try:
        with wave.open(path, 'wb') as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes((np.clip(y, -1, 1) * 32767).astype(np.int16).tobytes())
        r = subprocess.run(['pocketsphinx_continuous', '-infile', path, '-logfn', '/dev/null'], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f'pocketsphinx_continuous failed ({r.returncode}) on {path}: {r.stderr.strip()[:300]}')
    finally:
        os.unlink(path)
    return ' '.join(line.strip() for line in r.stdout.splitlines() if line.strip())


def words(s: str) -> list[str]:
    return re.sub(r"[^a-z' ]", ' ', s.lower()).split()


def word_errors(reference: str, hypothesis: str) -> int:
    """Levenshtein distance between the word sequences (substitutions + insertions + deletions)."""
    a, b = words(reference), words(hypothesis)
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[:], i
        for j in range(1, len(b) + 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
    return d[-1]
