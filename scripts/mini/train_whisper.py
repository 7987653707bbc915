"""Trains the mini Whisper (transformers' WhisperForConditionalGeneration, WHISPER_KWARGS) from
scratch on asr_spk_data.py's corpus and saves it in a layout ttslab's Whisper loads
(src/models/whisper: config.json, generation_config.json, model.safetensors in F16,
tokenizer.json, tokenizer_config.json).

    python3 scripts/mini/train_whisper.py train CORPUS_DIR OUT_DIR --minutes 5 [--batch 64] [--ctc-weight 0.5]
        [--curriculum 0.25] [--init DIR] [--smoke]
    python3 scripts/mini/train_whisper.py files OUT_DIR     # tokenizer + configs only (no torch needed)

Vocabulary (multilingual Whisper's layout, shrunk as test/fixtures/make_whisper_fixtures.py
does): ids 0..255 are the UTF-8 bytes (a byte-level BPE without merges: every text is
spelled byte by byte, so any word can be written), then <|endoftext|>, <|startoftranscript|>,
<|en|>, <|translate|>, <|transcribe|>, <|startoflm|>, <|startofprev|>, <|nospeech|>,
<|notimestamps|> and 1501 timestamps <|0.00|>..<|30.00|>: 1766 ids.

Training examples are 30 s windows as Whisper decodes them (its encoder always takes 3000
mel frames), built on the GPU from the corpus clips each step:
- one clip (short-form, as ttslab's ASR verifier transcribes a clip), several clips of one
  voice (80%) or of several, with gaps, up to a random length or filling the window (a clip
  cut at 30 s then gets only its start timestamp, Whisper's convention that makes long-form
  decoding seek to it), or no speech;
- targets with timestamps (80%: `<|t0|> text<|t1|><|t2|> text<|t3|>...`) or after
  <|notimestamps|>; 35% of the timestamp windows are prompted with previous text after
  <|startofprev|> (long-form decoding conditions on it), the loss only on the targets;
- audio: one speed factor per window (0.85..1.18, a pitch + formant + tempo change, 85%),
  spectral tilt and coloured noise at 5..35 dB SNR on the speech part; log-mel exactly as
  WhisperFeatureExtractor (zero padding to 30 s, max - 8 floor, (x + 4) / 4) or, for 20% of
  the windows that end early, features set to 0 after the speech (ttslab's and transformers'
  last long-form window); mel-axis warping (0.9..1.12, vocal-tract length) and SpecAugment
  masks.
Loss: cross-entropy of the targets + `--ctc-weight` (0.5) x a CTC loss of the spoken bytes on
the encoder output (an auxiliary linear head, not saved: without it a 5-minute run never
learned to use the audio), and the first 25% of the budget on short windows only.
AdamW, warm-up then cosine over the time budget, bf16 autocast. `--init DIR` continues from
a saved folder (a GPU call lasts at most 10 minutes; not exercised on the GPU yet).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # `files` runs without torch
    torch = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# ---- vocabulary -------------------------------------------------------------------------
NUM_BYTES = 256
EOT = NUM_BYTES
SOT = EOT + 1
EN = SOT + 1
TRANSLATE = EN + 1
TRANSCRIBE = TRANSLATE + 1
SOT_LM = TRANSCRIBE + 1
SOT_PREV = SOT_LM + 1
NO_SPEECH = SOT_PREV + 1
NO_TIMESTAMPS = NO_SPEECH + 1
TS_BEGIN = NO_TIMESTAMPS + 1
NUM_TIMESTAMPS = 1501
VOCAB = TS_BEGIN + NUM_TIMESTAMPS
# Bytes the corpus never writes (control characters, DEL, non-ASCII: a lone byte of a
# multi-byte character could only decode to U+FFFD), then the task / prompt tokens, with
# <|startofprev|> second to last as in the real configs.
SUPPRESS = [b for b in range(NUM_BYTES) if b < 32 or b >= 127] + [SOT, TRANSLATE, TRANSCRIBE, SOT_LM, SOT_PREV, NO_SPEECH]
BEGIN_SUPPRESS = [EOT]
MAX_TARGET = 448
SAMPLE_RATE = 16000
WINDOW = 30 * SAMPLE_RATE
FRAMES = 3000

WHISPER_KWARGS = dict(
    vocab_size=VOCAB, num_mel_bins=80, d_model=256, encoder_layers=4, decoder_layers=2,
    encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=512, decoder_ffn_dim=512,
    max_source_positions=1500, max_target_positions=MAX_TARGET, pad_token_id=EOT, bos_token_id=EOT,
    eos_token_id=EOT, decoder_start_token_id=SOT, begin_suppress_tokens=BEGIN_SUPPRESS, suppress_tokens=SUPPRESS,
    median_filter_width=7, scale_embedding=False, activation_function='gelu', tie_word_embeddings=True,
    dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, apply_spec_augment=False, use_cache=True,
)


def generation_kwargs(alignment_heads: list[list[int]]) -> dict:
    return dict(
        decoder_start_token_id=SOT, bos_token_id=EOT, eos_token_id=EOT, pad_token_id=EOT,
        begin_suppress_tokens=BEGIN_SUPPRESS, suppress_tokens=SUPPRESS, alignment_heads=alignment_heads,
        lang_to_id={'<|en|>': EN}, task_to_id={'translate': TRANSLATE, 'transcribe': TRANSCRIBE},
        no_timestamps_token_id=NO_TIMESTAMPS, prev_sot_token_id=SOT_PREV, is_multilingual=True,
        max_initial_timestamp_index=50, max_length=MAX_TARGET, return_timestamps=False,
    )


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-ins for the 256 byte values."""
    bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def special_tokens() -> list[tuple[int, str]]:
    toks = [(EOT, '<|endoftext|>'), (SOT, '<|startoftranscript|>'), (EN, '<|en|>'), (TRANSLATE, '<|translate|>'),
            (TRANSCRIBE, '<|transcribe|>'), (SOT_LM, '<|startoflm|>'), (SOT_PREV, '<|startofprev|>'),
            (NO_SPEECH, '<|nospeech|>'), (NO_TIMESTAMPS, '<|notimestamps|>')]
    return toks + [(TS_BEGIN + i, '<|%.2f|>' % (i * 0.02)) for i in range(NUM_TIMESTAMPS)]


def write_tokenizer(out: str) -> None:
    """tokenizer.json (byte-level BPE, no merges; Whisper's added tokens) and tokenizer_config.json."""
    b2u = bytes_to_unicode()
    added = [{'id': i, 'content': c, 'single_word': False, 'lstrip': False, 'rstrip': False, 'normalized': False,
              'special': i < TS_BEGIN} for i, c in special_tokens()]
    tok = {
        'version': '1.0', 'truncation': None, 'padding': None, 'added_tokens': added, 'normalizer': None,
        'pre_tokenizer': {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': True},
        'post_processor': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': False, 'use_regex': True},
        'decoder': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True, 'use_regex': True},
        'model': {'type': 'BPE', 'dropout': None, 'unk_token': None, 'continuing_subword_prefix': '', 'end_of_word_suffix': '',
                  'fuse_unk': False, 'byte_fallback': False, 'ignore_merges': False,
                  'vocab': {b2u[b]: b for b in range(256)}, 'merges': []},
    }
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, 'tokenizer.json'), 'w') as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    cfg = {'tokenizer_class': 'WhisperTokenizer', 'bos_token': '<|endoftext|>', 'eos_token': '<|endoftext|>',
           'unk_token': '<|endoftext|>', 'pad_token': '<|endoftext|>', 'clean_up_tokenization_spaces': False,
           'model_max_length': MAX_TARGET, 'additional_special_tokens': [c for i, c in special_tokens() if i < TS_BEGIN]}
    with open(os.path.join(out, 'tokenizer_config.json'), 'w') as f:
        json.dump(cfg, f, indent=1)


def write_configs(out: str, alignment_heads: list[list[int]]) -> None:
    """config.json and generation_config.json as transformers writes them (keys ttslab reads)."""
    cfg = dict(WHISPER_KWARGS, model_type='whisper', architectures=['WhisperForConditionalGeneration'], dtype='float16')
    with open(os.path.join(out, 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    with open(os.path.join(out, 'generation_config.json'), 'w') as f:
        json.dump(generation_kwargs(alignment_heads), f, indent=2, sort_keys=True)


def text_bytes(text: str) -> list[int]:
    return list((' ' + text).encode('utf-8'))


def ts_token(seconds: float) -> int:
    return TS_BEGIN + max(0, min(NUM_TIMESTAMPS - 1, int(round(seconds / 0.02))))


def decode_text(ids) -> str:
    """Text of generated ids: bytes below <|endoftext|>, decoded as UTF-8 (timestamps and specials dropped)."""
    return bytes(int(t) for t in ids if int(t) < EOT).decode('utf-8', errors='replace')


# ---- window recipes (CPU, cheap: offsets, speeds, labels) -------------------------------
class Windows:
    """Draws training windows: audio pieces to render on the GPU and decoder tokens."""

    def __init__(self, rows: list[dict], seed: int):
        self.rng = random.Random(seed)
        self.rows = rows
        # Curriculum: while True, windows hold one clip or a few clips within 10 s, without
        # previous-text prompts (cross-attention finds its way faster on short speech).
        self.short = False
        self.by_speaker: dict[str, list[dict]] = {}
        for r in rows:
            self.by_speaker.setdefault(r['speaker'], []).append(r)
        self.speakers = sorted(self.by_speaker)

    def prev_tokens(self, n: int) -> list[int]:
        """n tokens of plausible previous-window text (segments with timestamps), cut from the left."""
        rng = self.rng
        out, t = [], rng.uniform(0, 2)
        while len(out) < n + 8:
            r = rng.choice(self.rows)
            d = r['samples'] / SAMPLE_RATE
            if t + d > 29.5:
                t = rng.uniform(0, 2)
            out += [ts_token(t)] + text_bytes(r['text']) + [ts_token(t + d)]
            t += d + rng.uniform(0.2, 1.2)
        return out[-n:]

    def draw(self) -> dict:
        rng = self.rng
        speed = rng.uniform(0.85, 1.18) if rng.random() < 0.85 else 1.0
        one_voice = rng.random() < 0.8
        spk = rng.choice(self.speakers)
        pick = (lambda: rng.choice(self.by_speaker[spk])) if one_voice else (lambda: rng.choice(self.rows))
        use_ts = rng.random() < 0.8
        mode = rng.random() * (0.62 if self.short else 1.0)
        room = MAX_TARGET - 4 - 1  # prompt <|startoftranscript|> <|en|> <|transcribe|> [<|notimestamps|>], <|endoftext|>
        t = rng.uniform(0.0, 0.9)
        pieces, segs, used, cut = [], [], 0, False
        if mode >= 0.04:
            single = mode < 0.34
            limit = 30.0 if (single or mode > 0.62) else rng.uniform(3.0, 10.0 if self.short else 30.0)
            while True:
                r = pick()
                out_len = int(r['samples'] / speed)
                dur = out_len / SAMPLE_RATE
                ntok = len(text_bytes(r['text'])) + (2 if use_ts else 0)
                if used + ntok > room:
                    break
                if t + dur <= limit or (not segs and t + dur <= 30.0):
                    pieces.append((r['offset'], r['samples'], speed, int(t * SAMPLE_RATE), out_len))
                    segs.append((t, t + dur, r['text'], False))
                    used += ntok
                    t += dur + rng.uniform(0.15, 1.2)
                    if single:
                        break
                else:
                    # A clip cut at the window's end: only its start timestamp (timestamp windows that fill 30 s).
                    if limit == 30.0 and use_ts and t < 29.0 and segs and used + 1 <= room:
                        start = int(t * SAMPLE_RATE)
                        pieces.append((r['offset'], r['samples'], speed, start, WINDOW - start))
                        segs.append((t, 30.0, r['text'], True))
                        cut = True
                    break
        if cut:
            content = WINDOW
        else:
            end = segs[-1][1] if segs else rng.uniform(1.0, 30.0)
            content = min(WINDOW, int((end + rng.uniform(0.05, 1.0)) * SAMPLE_RATE))
        feat_zero = (not cut) and content < WINDOW - SAMPLE_RATE and rng.random() < 0.2
        if use_ts:
            target = []
            for a, b, text, is_cut in segs:
                if is_cut:
                    target.append(ts_token(a + 0.04))
                else:
                    target += [ts_token(a + 0.04)] + text_bytes(text) + [ts_token(b - 0.04)]
            if not segs:
                target.append(TS_BEGIN)
            target.append(EOT)
            prompt = [SOT, EN, TRANSCRIBE]
            free = MAX_TARGET - len(prompt) - len(target) - 1
            if rng.random() < (0.0 if self.short else 0.35) and free >= 2:
                prompt = [SOT_PREV] + self.prev_tokens(rng.randint(1, min(free, MAX_TARGET // 2 - 1))) + prompt
        else:
            target = [b for _, _, text, _ in segs for b in text_bytes(text)] + [EOT]
            prompt = [SOT, EN, TRANSCRIBE, NO_TIMESTAMPS]
        dec_in = (prompt + target[:-1])[:MAX_TARGET]
        labels = ([-100] * (len(prompt) - 1) + target)[:MAX_TARGET]
        assert len(dec_in) == len(labels)
        # CTC targets (the encoder's auxiliary loss): the spoken bytes, when every clip is whole.
        ctc = [b for _, _, text, _ in segs for b in text_bytes(text)]
        return dict(pieces=pieces, content=content, feat_zero=feat_zero, dec_in=dec_in, labels=labels,
                    texts=[s[2] for s in segs], cut=cut, ctc=ctc if not cut else [])


# ---- GPU rendering, features, augmentation ---------------------------------------------
def render(audio, pieces: list[tuple[int, int, int, float, int, int]], batch: int, length: int):
    """Audio pieces `(item, src offset, src samples, speed, dst offset, out samples)` -> `[batch, length]` float32
    in [-1, 1]: each piece resampled by linear interpolation (speed > 1: faster and higher), gaps zero."""
    dev = audio.device
    out = torch.zeros(batch * length, device=dev)
    if not pieces:
        return out.view(batch, length)
    p = list(zip(*pieces))
    item = torch.tensor(p[0], device=dev, dtype=torch.long)
    src = torch.tensor(p[1], device=dev, dtype=torch.long)
    slen = torch.tensor(p[2], device=dev, dtype=torch.long)
    spd = torch.tensor(p[3], device=dev, dtype=torch.float32)
    dst = torch.tensor(p[4], device=dev, dtype=torch.long)
    olen = torch.tensor(p[5], device=dev, dtype=torch.long).clamp(min=0)
    n = sum(max(0, int(v)) for v in p[5])  # from the Python list: no device sync
    pid = torch.repeat_interleave(torch.arange(len(pieces), device=dev), olen, output_size=n)
    j = torch.arange(n, device=dev) - torch.repeat_interleave(torch.cumsum(olen, 0) - olen, olen, output_size=n)
    pos = j.float() * spd[pid]
    i0 = pos.floor().long()
    w = pos - i0.float()
    last = slen[pid] - 1
    i1 = torch.minimum(i0 + 1, last)
    i0 = torch.minimum(i0, last)
    x0 = audio[src[pid] + i0].float()
    x1 = audio[src[pid] + i1].float()
    out[item[pid] * length + dst[pid] + j] = (x0 + (x1 - x0) * w) / 32768.0
    return out.view(batch, length)


def color_and_noise(x, content, gen_p: float = 0.5):
    """Random spectral tilt (50%) and coloured noise at 5..35 dB SNR (50%) on each row's first `content` samples."""
    b, n = x.shape
    dev = x.device
    mask = (torch.arange(n, device=dev)[None, :] < content[:, None]).float()
    f = torch.fft.rfftfreq(n, 1 / SAMPLE_RATE).to(dev)
    logf = torch.log((f + 100.0) / 1000.0)[None, :]
    tilt = (torch.rand(b, 1, device=dev) * 1.2 - 0.6) * (torch.rand(b, 1, device=dev) < gen_p)
    x = torch.fft.irfft(torch.fft.rfft(x) * torch.exp(tilt * logf), n) * mask
    beta = torch.rand(b, 1, device=dev) * 1.5
    noise = torch.fft.irfft(torch.fft.rfft(torch.randn(b, n, device=dev)) * torch.exp(-0.5 * beta * logf), n)
    rms = lambda v: (v.pow(2) * mask).sum(1, keepdim=True).div(mask.sum(1, keepdim=True).clamp(min=1)).sqrt()  # noqa: E731
    snr = 5.0 + 30.0 * torch.rand(b, 1, device=dev)
    on = (torch.rand(b, 1, device=dev) < gen_p).float()
    noise = noise * (rms(x) / rms(noise).clamp(min=1e-8) * 10 ** (-snr / 20)) * on
    return x + noise * mask


class LogMel:
    """WhisperFeatureExtractor's log-mel on the GPU (80 Slaney mel filters, n_fft 400, hop 160)."""

    def __init__(self, dev):
        from transformers import WhisperFeatureExtractor
        self.filters = torch.tensor(np.asarray(WhisperFeatureExtractor(feature_size=80).mel_filters), dtype=torch.float32, device=dev)  # [201, 80]
        self.window = torch.hann_window(400, device=dev)

    def __call__(self, x):
        """`[batch, 480000]` -> `[batch, 80, 3000]`."""
        st = torch.stft(x.float(), 400, 160, window=self.window, return_complex=True)
        mag = st[..., :-1].abs() ** 2
        mel = torch.matmul(self.filters.T, mag)
        lg = torch.clamp(mel, min=1e-10).log10()
        mx = lg.amax(dim=(1, 2), keepdim=True)
        return (torch.maximum(lg, mx - 8.0) + 4.0) / 4.0


def augment_features(feats, content, feat_zero, rng: torch.Generator | None = None):
    """Features after the speech set to 0 where `feat_zero`, mel-axis warping (60%), SpecAugment (70%)."""
    b, m, t = feats.shape
    dev = feats.device
    frames = (content + 159) // 160
    tt = torch.arange(t, device=dev)[None, None, :]
    zero = feat_zero[:, None, None] & (tt >= frames[:, None, None])
    # Vocal-tract-length-like warp: new[k] = old[k / alpha].
    alpha = torch.where(torch.rand(b, device=dev) < 0.6, 0.9 + 0.22 * torch.rand(b, device=dev), torch.ones(b, device=dev))
    src = (torch.arange(m, device=dev)[None, :] / alpha[:, None]).clamp(max=m - 1)
    lo = src.floor().long()
    hi = torch.clamp(lo + 1, max=m - 1)
    w = (src - lo.float())[:, :, None]
    feats = torch.gather(feats, 1, lo[:, :, None].expand(b, m, t)) * (1 - w) + torch.gather(feats, 1, hi[:, :, None].expand(b, m, t)) * w
    spec = torch.rand(b, device=dev) < 0.7
    mean = feats.mean(dim=(1, 2), keepdim=True)
    masks = torch.zeros(b, m, t, dtype=torch.bool, device=dev)
    mm = torch.arange(m, device=dev)[None, :, None]
    for _ in range(2):
        w0 = torch.randint(0, 9, (b,), device=dev)
        f0 = (torch.rand(b, device=dev) * (m - w0)).long()
        masks |= (mm >= f0[:, None, None]) & (mm < (f0 + w0)[:, None, None])
    for _ in range(4):
        w0 = torch.randint(0, 26, (b,), device=dev)
        t0 = (torch.rand(b, device=dev) * (frames - w0).clamp(min=1)).long()
        masks |= (tt >= t0[:, None, None]) & (tt < (t0 + w0)[:, None, None])
    masks &= spec[:, None, None]
    feats = torch.where(masks, mean.expand(b, m, t), feats)
    return torch.where(zero, torch.zeros_like(feats), feats)


def make_batch(windows: Windows, audio, logmel, batch: int, augment: bool = True, with_ctc: bool = False):
    ws = [windows.draw() for _ in range(batch)]
    pieces = [(i,) + p for i, w in enumerate(ws) for p in w['pieces']]
    dev = audio.device
    x = render(audio, pieces, batch, WINDOW)
    content = torch.tensor([w['content'] for w in ws], device=dev)
    if augment:
        x = color_and_noise(x, content)
    feats = logmel(x)
    if augment:
        feats = augment_features(feats, content, torch.tensor([w['feat_zero'] for w in ws], device=dev))
    n = max(len(w['dec_in']) for w in ws)
    dec = torch.full((batch, n), EOT, dtype=torch.long)
    lab = torch.full((batch, n), -100, dtype=torch.long)
    for i, w in enumerate(ws):
        dec[i, :len(w['dec_in'])] = torch.tensor(w['dec_in'])
        lab[i, :len(w['labels'])] = torch.tensor(w['labels'])
    if not with_ctc:
        return feats, dec.to(dev), lab.to(dev)
    # CTC targets: byte + 1 (0 is the blank), concatenated; windows with a cut clip are left out (weight 0).
    ctc_t = torch.tensor([b + 1 for w in ws for b in w['ctc']] or [1], dtype=torch.long)
    ctc_len = torch.tensor([len(w['ctc']) for w in ws], dtype=torch.long)
    ctc_w = torch.tensor([0.0 if w['cut'] else 1.0 for w in ws])
    return feats, dec.to(dev), lab.to(dev), (ctc_t.to(dev), ctc_len.to(dev), ctc_w.to(dev), int(ctc_len.sum()))


def load_corpus(folder: str):
    with open(os.path.join(folder, 'manifest.jsonl')) as f:
        rows = [json.loads(line) for line in f]
    audio = np.load(os.path.join(folder, 'audio.npy'))
    return rows, audio


def param_count(model) -> int:
    return sum(p.numel() for p in model.state_dict().values())


def save(model, out: str, heads: list[list[int]]) -> None:
    """transformers' save_pretrained in F16 (config.json, generation_config.json, model.safetensors without the
    tied proj_out) and the tokenizer files."""
    from transformers import GenerationConfig
    gc = GenerationConfig()
    for k, v in generation_kwargs(heads).items():
        setattr(gc, k, v)
    model.generation_config = gc
    model.to(torch.float16).save_pretrained(out)
    write_tokenizer(out)


def set_attention(model, impl: str) -> None:
    try:
        model.set_attn_implementation(impl)
    except Exception:  # older transformers
        model.config._attn_implementation = impl


@torch.no_grad() if torch else (lambda f: f)
def alignment_heads(model, windows: Windows, audio, logmel, n: int = 32) -> tuple[list[list[int]], list[float]]:
    """Cross-attention heads whose attention moves through the audio with the text: per head, the
    correlation of each text token's attention peak (frame) with its position, over n windows; the
    heads within 0.1 of the best (at least one) are the alignment heads (word timestamps)."""
    before = getattr(model.config, '_attn_implementation', None) or 'sdpa'
    set_attention(model, 'eager')
    feats, dec, lab = make_batch(windows, audio, logmel, n, augment=False)
    out = model(input_features=feats, decoder_input_ids=dec, output_attentions=True)
    set_attention(model, before)
    scores = []
    valid = (dec < EOT) & (lab != -100)  # text-byte inputs of the targets
    for layer, att in enumerate(out.cross_attentions):  # [n, heads, T, 1500]
        peak = att.float().argmax(-1)  # [n, heads, T]
        for h in range(att.shape[1]):
            cs = []
            for i in range(n):
                idx = valid[i].nonzero().flatten()
                if len(idx) < 8:
                    continue
                a = idx.float()
                b = peak[i, h, idx].float()
                if b.std() < 1e-6:
                    cs.append(0.0)
                    continue
                cs.append(float(torch.corrcoef(torch.stack([a, b]))[0, 1]))
            scores.append(((layer, h), float(np.mean(cs)) if cs else 0.0))
    best = max(s for _, s in scores)
    heads = [[l, h] for (l, h), s in scores if s >= best - 0.1]
    return heads, [round(s, 3) for _, s in scores]


def train(a) -> None:
    from transformers import WhisperConfig, WhisperForConditionalGeneration
    from transformers.modeling_outputs import BaseModelOutput
    torch.manual_seed(0)
    dev = torch.device('cuda')
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    rows, audio_np = load_corpus(a.corpus)
    train_rows = [r for r in rows if r['split'] == 'train']
    audio = torch.from_numpy(audio_np).to(dev)
    logmel = LogMel(dev)
    windows = Windows(train_rows, seed=1)
    model = WhisperForConditionalGeneration(WhisperConfig(**WHISPER_KWARGS)).to(dev)
    if a.init:
        # Continue from a saved mini Whisper (a GPU call lasts at most 10 minutes: longer training
        # chains calls). The tied proj_out shares embed_tokens' tensor, so it is loaded with it.
        from safetensors.torch import load_file
        sd = load_file(os.path.join(a.init, 'model.safetensors'))
        missing, unexpected = model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=False)
        bad = [k for k in missing if k != 'proj_out.weight'] + list(unexpected)
        if bad:
            raise SystemExit(f'{a.init}/model.safetensors does not match WHISPER_KWARGS: {bad[:6]}')
        print(f'whisper: continuing from {a.init}', flush=True)
    n_params = param_count(model) - model.proj_out.weight.numel()
    print(f'whisper: {n_params / 1e6:.2f} M values saved ({2 * n_params / 1e6:.2f} MB F16), '
          f'{len(train_rows)} training clips, {len({r["speaker"] for r in train_rows})} voices', flush=True)
    # Auxiliary CTC head on the encoder output (training only, not saved): 256 bytes + blank.
    ctc_head = torch.nn.Linear(WHISPER_KWARGS['d_model'], NUM_BYTES + 1).to(dev)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad] + list(ctc_head.parameters()),
                            lr=a.lr, betas=(0.9, 0.98), weight_decay=0.01)
    warm = 20 if a.smoke else 300
    budget = a.minutes * 60
    t0, step, log, tokens = time.time(), 0, [], torch.zeros((), dtype=torch.long, device=dev)
    model.train()
    while True:
        el = time.time() - t0
        if el > budget or (a.max_steps and step >= a.max_steps):
            break
        frac = min(el / budget, 1.0)
        lr = a.lr * min(1.0, (step + 1) / warm) * (0.03 + 0.97 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g['lr'] = lr
        windows.short = frac < a.curriculum
        feats, dec, lab, (ctc_t, ctc_len, ctc_w, n_ctc) = make_batch(windows, audio, logmel, a.batch, with_ctc=True)
        with torch.autocast('cuda', dtype=torch.bfloat16):
            enc = model.model.encoder(input_features=feats).last_hidden_state  # [B, 1500, d]
            logits = model(encoder_outputs=BaseModelOutput(last_hidden_state=enc), decoder_input_ids=dec).logits
            ctc_logits = ctc_head(enc)
        ce = F.cross_entropy(logits.float().reshape(-1, VOCAB), lab.reshape(-1), ignore_index=-100)
        lp = ctc_logits.float().log_softmax(-1).transpose(0, 1)  # [1500, B, 257]
        in_len = torch.full((a.batch,), lp.shape[0], dtype=torch.long, device=dev)
        if ctc_t.numel() == n_ctc and n_ctc > 0:
            ctc = F.ctc_loss(lp, ctc_t, in_len, ctc_len, blank=0, reduction='none', zero_infinity=True)
            ctc = (ctc / ctc_len.clamp(min=1) * ctc_w).sum() / ctc_w.sum().clamp(min=1)
        else:  # no whole clip in the batch
            ctc = lp.sum() * 0.0
        loss = ce + a.ctc_weight * ctc
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(ctc_head.parameters()), 1.0)
        opt.step()
        tokens += (lab != -100).sum()
        if step % (5 if a.smoke else 100) == 0:
            if not torch.isfinite(loss):
                raise RuntimeError(f'whisper: loss is {loss.item()} at step {step}')
            rec = dict(step=step, s=round(time.time() - t0, 1), loss=round(loss.item(), 4), ce=round(ce.item(), 4), ctc=round(ctc.item(), 4),
                       short=windows.short, grad_norm=round(float(gn), 3), lr=round(lr, 6))
            log.append(rec)
            print('whisper', json.dumps(rec), flush=True)
        step += 1
    train_s = time.time() - t0
    model.eval()
    heads, head_scores = alignment_heads(model, Windows(train_rows, seed=7), audio, logmel, 8 if a.smoke else 32)
    print(f'whisper: {step} steps x {a.batch} windows in {train_s:.0f} s; alignment heads {heads} (scores {head_scores})', flush=True)
    save(model, a.out, heads)
    with open(os.path.join(a.out, 'train_log.json'), 'w') as f:
        json.dump(dict(steps=step, batch=a.batch, seconds=round(train_s, 1), target_tokens=int(tokens), lr=a.lr,
                       ctc_weight=a.ctc_weight, curriculum=a.curriculum, init=a.init,
                       params=n_params, alignment_head_scores=head_scores, alignment_heads=heads, log=log), f, indent=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('verb', choices=['train', 'files'])
    ap.add_argument('paths', nargs='+')
    ap.add_argument('--minutes', type=float, default=5.0)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--lr', type=float, default=1.5e-3)
    ap.add_argument('--max-steps', type=int, default=0)
    ap.add_argument('--ctc-weight', type=float, default=0.5, help='weight of the encoder CTC loss (0: none)')
    ap.add_argument('--curriculum', type=float, default=0.25, help='fraction of the budget on short windows')
    ap.add_argument('--init', default=None, help='a saved mini Whisper folder to continue training from')
    ap.add_argument('--smoke', action='store_true')
    a = ap.parse_args()
    if a.verb == 'files':
        write_tokenizer(a.paths[0])
        write_configs(a.paths[0], [[1, 0]])
        return
    if len(a.paths) != 2:
        raise SystemExit('train needs CORPUS_DIR OUT_DIR')
    a.corpus, a.out = a.paths
    train(a)


if __name__ == '__main__':
    main()
