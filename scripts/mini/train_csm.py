"""Trains the mini CSM on the corpus codes and saves it with the mini codec inside.

    python3 scripts/mini/train_csm.py CORPUS_MANIFEST CODES_DIR OUT_DIR --minutes 7 [--batch 64]

CORPUS_MANIFEST: corpus.py's manifest.jsonl. CODES_DIR: encode_corpus_mel.py's output
(codec/ = the mini codec of melcodec.py, codes.npz = the codes of every manifest row in order).

The model is transformers' CsmForConditionalGeneration (csm_kwargs) with the codec's codebook
count and size. transformers has no class for the mel codec, so training builds the model with
a placeholder mini Mimi as `codec_model` (never used: inputs go in as embeddings) and the saved
folder replaces it: config.json's `codec_config` is the mel codec's config (model_type
"ttslab_mel_rvq") and model.safetensors holds the codec's tensors as `codec_model.*`, CSM-1B's
layout, which ttslab's `loadTtsModel(folder)` reads. (transformers' from_pretrained cannot
load that folder: its codec type is ttslab's own.)

Text is CSM's processor format, one turn per clip: `<bos>[speaker]text<eos>` then one
`<|AUDIO|>` per frame and `<|audio_eos|>`, with a byte-level tokenizer (id = UTF-8 byte,
then 4 specials; tokenizer.json is written next to the weights). Inputs go in as
inputs_embeds, built as transformers' `_merge_input_ids_with_input_values` builds them
(text table at text positions, the summed codebook embeddings at audio positions, the
all-`codebook_eos_token_id` frame at `<|audio_eos|>`), and labels as the 3-D
`[batch, seq, codebooks]` tensor that method makes; CsmForConditionalGeneration.forward
then gives the backbone loss (codebook 0, shifted) + the depth decoder loss (codebooks 1..
of every frame: the amortisation ratio is 1, affordable at this size). Right padding:
positions 0..n-1 equal ttslab's positions-from-mask.
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
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MIMI_KWARGS  # noqa: E402
import melcodec  # noqa: E402

BYTE_TOKENS = 256
SPECIALS = ['<|begin_of_text|>', '<|end_of_text|>', '<|AUDIO|>', '<|audio_eos|>']
BOS, EOS, AUDIO, AUDIO_EOS = (BYTE_TOKENS + i for i in range(4))
# Set from the codec in main() (melcodec config: num_codebooks, codebook_size).
NUM_CODEBOOKS = 0


def csm_kwargs(num_codebooks: int, codebook: int, hidden: int = 256, layers: int = 6, ffn: int = 768) -> dict:
    """The mini CSM: backbone `layers` x `hidden` (4 heads / 2 KV heads), depth decoder 2 x 128."""
    rope = {'rope_type': 'default', 'rope_theta': 500000.0}
    return dict(
        num_codebooks=num_codebooks,
        vocab_size=codebook,  # the audio vocabulary is exactly the codec's codes: every sampled code decodes
        text_vocab_size=BYTE_TOKENS + len(SPECIALS),
        hidden_size=hidden,
        intermediate_size=ffn,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden // 4,
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
        rope_parameters=rope,
        pad_token_id=EOS,
        bos_token_id=BOS,
        codebook_pad_token_id=codebook - 1,
        codebook_eos_token_id=0,
        audio_token_id=AUDIO,
        audio_eos_token_id=AUDIO_EOS,
        tie_codebooks_embeddings=True,
        depth_decoder_config=dict(
            num_codebooks=num_codebooks,
            backbone_hidden_size=hidden,
            vocab_size=codebook,
            hidden_size=128,
            intermediate_size=384,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=32,
            max_position_embeddings=num_codebooks + 1,
            rms_norm_eps=1e-5,
            rope_parameters=rope,
        ),
    )


def bytes_to_unicode() -> list[str]:
    """GPT-2's byte -> printable character map (= src/tokenizer/bytes.ts)."""
    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    out, extra = [], 0
    for b in range(256):
        if b in printable:
            out.append(chr(b))
        else:
            out.append(chr(256 + extra))
            extra += 1
    return out


def write_tokenizer(folder: str) -> None:
    """tokenizer.json (byte-level BPE without merges, the 4 CSM specials) + tokenizer_config.json, as tinyCsmTokenizer."""
    vocab = {ch: b for b, ch in enumerate(bytes_to_unicode())}
    byte_level = {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': False}
    tok = {
        'version': '1.0', 'truncation': None, 'padding': None,
        'added_tokens': [dict(id=BYTE_TOKENS + i, content=s, single_word=False, lstrip=False, rstrip=False, normalized=False, special=True)
                         for i, s in enumerate(SPECIALS)],
        'normalizer': None, 'pre_tokenizer': byte_level, 'post_processor': None, 'decoder': byte_level,
        'model': {'type': 'BPE', 'dropout': None, 'unk_token': None, 'continuing_subword_prefix': None, 'end_of_word_suffix': None,
                  'fuse_unk': False, 'byte_fallback': False, 'ignore_merges': False, 'vocab': vocab, 'merges': []},
    }
    with open(os.path.join(folder, 'tokenizer.json'), 'w') as f:
        json.dump(tok, f, ensure_ascii=False)
    with open(os.path.join(folder, 'tokenizer_config.json'), 'w') as f:
        json.dump({'bos_token': SPECIALS[0], 'eos_token': SPECIALS[1], 'pad_token': SPECIALS[1], 'model_max_length': 2048,
                   'tokenizer_class': 'PreTrainedTokenizerFast'}, f, indent=1)


def text_ids(speaker: int, text: str) -> list[int]:
    return [BOS] + list(f'[{speaker}]{text}'.encode('utf-8')) + [EOS]


def build_examples(rows: list[dict], codes: np.ndarray, frames: np.ndarray, split: str) -> list[tuple[list[int], np.ndarray]]:
    """(text ids, codes [frames, codebooks]) of every clip of `split` whose voice has a CSM speaker id."""
    starts = np.concatenate([[0], np.cumsum(frames)[:-1]])
    out = []
    for r, s, n in zip(rows, starts, frames):
        if r['split'] == split and r['seen']:
            out.append((text_ids(r['speaker_id'], r['text']), codes[s: s + n].astype(np.int64)))
    return out


def collate(batch, dev):
    """-> input ids [B, S], audio codes [B, S, Q], labels [B, S, Q], attention mask [B, S] (right padded)."""
    lens = [len(t) + len(c) + 1 for t, c in batch]
    S = max(lens)
    B = len(batch)
    ids = torch.full((B, S), EOS, dtype=torch.long)
    codes = torch.zeros((B, S, NUM_CODEBOOKS), dtype=torch.long)
    labels = torch.full((B, S, NUM_CODEBOOKS), -100, dtype=torch.long)
    mask = torch.zeros((B, S), dtype=torch.long)
    for b, (t, c) in enumerate(batch):
        nt, nf = len(t), len(c)
        ids[b, :nt] = torch.tensor(t)
        ids[b, nt: nt + nf] = AUDIO
        ids[b, nt + nf] = AUDIO_EOS
        codes[b, nt: nt + nf] = torch.from_numpy(c)
        labels[b, nt: nt + nf] = torch.from_numpy(c)
        labels[b, nt + nf] = 0  # the end frame: every codebook = codebook_eos_token_id
        mask[b, : nt + nf + 1] = 1
    return ids.to(dev), codes.to(dev), labels.to(dev), mask.to(dev)


def embed(model, ids, codes, codebook_dropout: float = 0.0, frame_dropout: float = 0.0):
    """inputs_embeds as transformers' _merge_input_ids_with_input_values: text rows, or summed code rows at audio positions.

    codebook_dropout p (training only): each frame, with probability p, keeps only its first k
    codebooks in the sum (k uniform in 1..Q-1), a nested dropout of the fine codebooks. Fine
    codes are close to noise and unique to a clip: with all of them always in the input the
    backbone recognises the training clip and recites its next frame (training loss -> 0,
    held-out loss up) instead of reading the text.

    frame_dropout p (training only): each audio frame's whole embedding is zeroed with
    probability p, as Tacotron's pre-net dropout: with its own past frames unreliable the
    backbone has to follow the text to know what comes next (without it, with the codebook
    dropout alone, the loss hardly depended on the text: 5.78 with the right sentence, 5.92 with
    another; models/mini/README.md).
    """
    text = model.embed_text_tokens(ids)
    emb = model.backbone_model.embed_tokens
    if codebook_dropout > 0:
        parts = emb.embed_audio_tokens(codes + emb.audio_tokens_offsets)  # [B, S, Q, H]
        B, S, Q = codes.shape
        cut = torch.randint(1, Q, (B, S, 1), device=codes.device)
        cut = torch.where(torch.rand((B, S, 1), device=codes.device) < codebook_dropout, cut, torch.full_like(cut, Q))
        keep = (torch.arange(Q, device=codes.device)[None, None, :] < cut).to(parts.dtype)
        audio = (parts * keep[..., None]).sum(dim=2)
    else:
        audio = emb(codes)  # [B, S, H]; codes are 0 at <|audio_eos|>: the eos frame
    if frame_dropout > 0:
        audio = audio * (torch.rand(audio.shape[:2] + (1,), device=audio.device) >= frame_dropout).to(audio.dtype)
    is_audio = ((ids == AUDIO) | (ids == AUDIO_EOS))[..., None]
    return torch.where(is_audio, audio, text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('manifest')
    ap.add_argument('codec')
    ap.add_argument('out')
    ap.add_argument('--minutes', type=float, default=7.0)
    ap.add_argument('--max-steps', type=int, default=10**9)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--hidden', type=int, default=256)
    ap.add_argument('--layers', type=int, default=6)
    ap.add_argument('--ffn', type=int, default=768)
    ap.add_argument('--init', nargs='+', default=None, metavar='SAFETENSORS',
                    help='start from these weights (a saved model.safetensors, or the parts pack_weights.py split it into): training continued over several GPU calls')
    ap.add_argument('--warmup', type=int, default=200, help='learning-rate warm-up steps')
    ap.add_argument('--eval-every', type=int, default=400, help='steps between held-out losses (a multiple of 200); the best weights are kept')
    ap.add_argument('--codebook-dropout', type=float, default=0.5, help='nested dropout of the fine codebooks in the backbone input (embed())')
    ap.add_argument('--frame-dropout', type=float, default=0.5, help='dropout of whole audio frames in the backbone input (embed())')
    ap.add_argument('--weight-decay', type=float, default=0.01)
    ap.add_argument('--samples', type=int, default=0, help='held-out sentences to generate with transformers after training (slow; ttslab generates them instead)')
    a = ap.parse_args()
    global NUM_CODEBOOKS
    random.seed(a.seed)
    torch.manual_seed(a.seed)
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    torch.backends.cuda.matmul.allow_tf32 = True
    from transformers import CsmConfig, CsmForConditionalGeneration, MimiConfig
    codec = melcodec.load(os.path.join(a.codec, 'codec'))
    NUM_CODEBOOKS = codec.c.num_codebooks

    with open(a.manifest) as f:
        rows = [json.loads(line) for line in f]
    z = np.load(os.path.join(a.codec, 'codes.npz'))
    codes, frames = z['codes'], z['frames']
    if len(frames) != len(rows):
        raise SystemExit(f'{a.codec}/codes.npz has {len(frames)} clips, {a.manifest} has {len(rows)} rows')
    train = build_examples(rows, codes, frames, 'train')
    evals = build_examples(rows, codes, frames, 'eval')
    random.Random(1).shuffle(train)
    probe, train = train[:384], train[384:]
    print(f'csm: {len(train)} training clips, {len(probe)} validation clips, {len(evals)} eval clips (seen voices, held-out sentences)', flush=True)

    if codes.shape[1] != NUM_CODEBOOKS or codes.max() >= codec.c.codebook_size:
        raise SystemExit(f'{a.codec}/codes.npz: codes {codes.shape} max {codes.max()} do not fit the codec {NUM_CODEBOOKS} x {codec.c.codebook_size}')
    kw = csm_kwargs(NUM_CODEBOOKS, codec.c.codebook_size, a.hidden, a.layers, a.ffn)
    cfg = CsmConfig(**kw, codec_config=MimiConfig(**MIMI_KWARGS).to_dict())  # placeholder codec, see the docstring
    model = CsmForConditionalGeneration(cfg)
    missing = 'placeholder codec'
    # tie_codebooks_embeddings: one audio table for the backbone and the depth decoder.
    model.depth_decoder.model.embed_tokens.weight = model.backbone_model.embed_tokens.embed_audio_tokens.weight
    if a.init:
        load_init(model, a.init)
    model.to(dev).train()
    model.codec_model.requires_grad_(False)
    n_params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith('codec_model.'))
    print(f'csm: {n_params / 1e6:.2f} M parameters without the codec ({missing})', flush=True)
    params = [p for n, p in model.named_parameters() if not n.startswith('codec_model.')]
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.95), weight_decay=a.weight_decay)

    # Length-bucketed batches: sort by length within shuffled pools of 50 batches.
    def batches():
        while True:
            idx = list(range(len(train)))
            random.shuffle(idx)
            for p in range(0, len(idx), a.batch * 50):
                pool = sorted(idx[p: p + a.batch * 50], key=lambda i: len(train[i][0]) + len(train[i][1]))
                chunks = [pool[k: k + a.batch] for k in range(0, len(pool), a.batch)]
                random.shuffle(chunks)
                yield from chunks

    def loss_of(batch, training=False):
        ids, cds, labels, mask = collate(batch, dev)
        drop = (a.codebook_dropout, a.frame_dropout) if training else (0.0, 0.0)
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == 'cuda'):
            out = model(inputs_embeds=embed(model, ids, cds, *drop), attention_mask=mask, labels=labels)
        return out.loss, out.backbone_loss, out.depth_decoder_loss

    # Validation loss every --eval-every steps on 384 training clips set aside (never trained
    # on; not the held-out 'eval' sentences, which stay the test set); the weights of the best
    # one are kept (early stopping: a small model on hours of speech can memorise it).

    @torch.no_grad()
    def probe_loss() -> float:
        model.eval()
        tot = sum(loss_of(probe[k: k + a.batch])[0].item() * len(probe[k: k + a.batch]) for k in range(0, len(probe), a.batch))
        model.train()
        return tot / len(probe)

    best = dict(loss=float('inf'), step=-1, state=None)

    warm = a.warmup
    deadline = time.time() + a.minutes * 60
    t0, step, log = time.time(), 0, []
    for batch_idx in batches():
        if time.time() > deadline or step >= a.max_steps:
            break
        # Warm-up, then cosine decay over the time budget (a step count estimated early is skewed by start-up).
        frac = min((time.time() - t0) / (a.minutes * 60), 1.0)
        lr = a.lr * min(1.0, (step + 1) / warm) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g['lr'] = lr
        loss, bl, dl = loss_of([train[i] for i in batch_idx], training=True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 200 == 0:
            rec = dict(step=step, s=round(time.time() - t0, 1), loss=round(loss.item(), 4), backbone=round(bl.item(), 4), depth=round(dl.item(), 4), lr=lr)
            if step % a.eval_every == 0 and step > 0:
                rec['val'] = round(probe_loss(), 4)
                if rec['val'] < best['loss']:
                    best.update(loss=rec['val'], step=step, state={k: v.detach().clone() for k, v in model.state_dict().items()})
            log.append(rec)
            print(json.dumps(rec), flush=True)
        step += 1
    train_s = time.time() - t0
    print(f'csm: {step} steps in {train_s:.0f} s', flush=True)
    final = probe_loss()
    if best['state'] is not None and best['loss'] < final:
        model.load_state_dict(best['state'])
        print(f"csm: kept the weights of step {best['step']} (validation loss {best['loss']:.4f}; at the end {final:.4f})", flush=True)
    else:
        best.update(loss=final, step=step)

    model.eval()
    with torch.no_grad():
        tot = [0.0, 0.0, 0.0]
        nb = 0
        for k in range(0, len(evals), a.batch):
            l, b_, d_ = loss_of(evals[k: k + a.batch])
            tot[0] += l.item(); tot[1] += b_.item(); tot[2] += d_.item(); nb += 1
    nb = max(nb, 1)  # no eval rows (a shard without them): zeros
    ev = dict(eval_loss=round(tot[0] / nb, 4), eval_backbone_loss=round(tot[1] / nb, 4), eval_depth_loss=round(tot[2] / nb, 4),
              eval_clips=len(evals), val_loss=round(best['loss'], 4), steps=step, kept_step=best['step'], train_seconds=round(train_s), batch=a.batch,
              codebook_dropout=a.codebook_dropout, frame_dropout=a.frame_dropout, init=a.init, params_without_codec=n_params, log=log)
    print(json.dumps({k: v for k, v in ev.items() if k != 'log'}), flush=True)

    os.makedirs(a.out, exist_ok=True)
    save_with_codec(model, cfg, codec, a.out)
    write_tokenizer(a.out)
    with open(os.path.join(a.out, 'train_eval.json'), 'w') as f:
        json.dump(ev, f, indent=1)

    # A few generations of held-out sentences by transformers' own generate (codes; decode them with melcodec.py).
    if a.samples:
        samples = generate_samples(model.float(), rows, dev, a.samples)
        np.savez_compressed(os.path.join(a.out + '_samples.npz'), **samples)
    print(f'csm: saved {a.out}', flush=True)


def load_init(model, files: list[str]) -> None:
    """Loads every CSM tensor (not the codec's) from `files` into `model`; all of them must be there."""
    from safetensors.torch import load_file
    state = {}
    for f in files:
        state.update({k: v for k, v in load_file(f).items() if not k.startswith('codec_model.')})
    own = {k: v for k, v in model.state_dict().items() if not k.startswith('codec_model.')}
    tied = 'backbone_model.embed_tokens.embed_audio_tokens.weight'  # the same tensor as the depth decoder's table
    missing = [k for k in own if k not in state and k != tied]
    extra = [k for k in state if k not in own]
    if missing or extra:
        raise SystemExit(f'--init {files}: missing {missing[:5]} ({len(missing)}), unexpected {extra[:5]} ({len(extra)})')
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise SystemExit(f'--init {files}: {k} has shape {tuple(v.shape)}, the model {tuple(own[k].shape)}')
    model.load_state_dict(state, strict=False)
    print(f'csm: initialised from {len(state)} tensors of {files}', flush=True)


def save_with_codec(model, cfg, codec, out: str) -> None:
    """config.json (codec_config = the mel codec's) + model.safetensors (F16 CSM tensors, both copies
    of the tied audio table, and the codec's tensors as `codec_model.*`)."""
    from safetensors.torch import save_file
    os.makedirs(out, exist_ok=True)
    tensors = {k: v.detach().to(torch.float16).cpu().contiguous().clone() for k, v in model.state_dict().items()
               if not k.startswith('codec_model.')}
    for k, v in codec.tensors().items():
        tensors['codec_model.' + k] = torch.from_numpy(np.ascontiguousarray(v))
    save_file(tensors, os.path.join(out, 'model.safetensors'), metadata={'format': 'pt'})
    conf = json.loads(cfg.to_json_string())
    conf['codec_config'] = codec.c.to_dict()
    conf['architectures'] = ['CsmForConditionalGeneration']
    conf['torch_dtype'] = 'float16'
    with open(os.path.join(out, 'config.json'), 'w') as f:
        json.dump(conf, f, indent=2)


@torch.no_grad()
def generate_samples(model, rows, dev, n: int = 2) -> dict:
    """Generates n held-out sentences (speaker 0..n-1) with transformers' CsmForConditionalGeneration.generate -> codes."""
    out = {}
    ev = [r for r in rows if r['split'] == 'eval' and r['seen']]
    picks = []
    for r in ev:
        if r['speaker_id'] == len(picks) and len(picks) < n:
            picks.append(r)
    for k, r in enumerate(picks):
        ids = torch.tensor([text_ids(r['speaker_id'], r['text'])], device=dev)
        try:
            g = model.generate(input_ids=ids, output_audio=False, max_new_tokens=int(25 * (len(r['text']) / 10 + 2)),
                               do_sample=True, temperature=0.8, top_k=50, depth_decoder_do_sample=True,
                               depth_decoder_temperature=0.6, depth_decoder_top_p=0.9)
            g = getattr(g, 'sequences', g)
            out[f'c{k}'] = (g[0] if isinstance(g, (list, tuple)) else g[0]).cpu().numpy()
        except Exception as e:  # generation is a check here, not the product: report and go on
            print(f'csm: generate failed for {r["text"]!r}: {e}', flush=True)
        out[f't{k}'] = np.array(r['text'])
    return out


if __name__ == '__main__':
    main()
