"""Splits a mini CSM checkpoint into parts small enough to come back from the GPU machine
(at most 16 MiB per returned file), and merges them again.

    python3 scripts/mini/pack_weights.py split MODEL.safetensors OUT_PREFIX [MAX_MIB]
        -> OUT_PREFIX.part0.safetensors, OUT_PREFIX.part1.safetensors, ... (each <= MAX_MIB, 15 by default)
    python3 scripts/mini/pack_weights.py merge OUT.safetensors PART0 [PART1 ...]
    python3 scripts/mini/pack_weights.py merge-shipped OUT.safetensors PART0 [PART1 ...]
        (the tied table once, as models/mini/csm ships it: 4.2 MB smaller)

Tensors are copied as stored (F16/F32). The backbone's copy of the tied audio table travels
once: split drops it (after checking it equals the depth decoder's), merge writes it back,
since transformers' from_pretrained does not rebuild it and ttslab reads either.
"""
import sys

from safetensors.numpy import load_file, save_file

AUDIO = 'backbone_model.embed_tokens.embed_audio_tokens.weight'
DEPTH = 'depth_decoder.model.embed_tokens.weight'


def split(src: str, prefix: str, max_mib: float) -> None:
    w = load_file(src)
    if AUDIO in w and DEPTH in w:
        if not (w[AUDIO] == w[DEPTH]).all():
            raise SystemExit(f'{src}: {AUDIO} differs from {DEPTH}: the tables are not tied')
        del w[AUDIO]
    limit = max_mib * 2 ** 20 - 2 ** 16  # room for the header
    parts: list[dict] = [{}]
    size = 0
    for k in sorted(w, key=lambda k: -w[k].nbytes):
        n = w[k].nbytes
        if n > limit:
            raise SystemExit(f'{src}: tensor {k} alone is {n / 2 ** 20:.1f} MiB, over {max_mib} MiB')
        placed = False
        for p in parts:
            if sum(v.nbytes for v in p.values()) + n <= limit:
                p[k] = w[k]
                placed = True
                break
        if not placed:
            parts.append({k: w[k]})
        size += n
    for i, p in enumerate(parts):
        save_file(p, f'{prefix}.part{i}.safetensors', metadata={'format': 'pt'})
    print(f'{src}: {len(w)} tensors, {size / 2 ** 20:.1f} MiB -> {len(parts)} parts')


def merge(out: str, parts: list[str], tied_copy: bool = True) -> None:
    w: dict = {}
    for p in parts:
        t = load_file(p)
        clash = set(t) & set(w)
        if clash:
            raise SystemExit(f'{p}: tensor {sorted(clash)[0]} is in an earlier part too')
        w.update(t)
    if DEPTH in w and tied_copy:
        w.setdefault(AUDIO, w[DEPTH])
    save_file(w, out, metadata={'format': 'pt'})
    print(f'{out}: {len(w)} tensors from {len(parts)} parts')


def main() -> None:
    verb = sys.argv[1] if len(sys.argv) > 1 else ''
    if verb == 'split' and len(sys.argv) in (4, 5):
        split(sys.argv[2], sys.argv[3], float(sys.argv[4]) if len(sys.argv) == 5 else 15.0)
    elif verb in ('merge', 'merge-shipped') and len(sys.argv) >= 4:
        merge(sys.argv[2], sys.argv[3:], tied_copy=verb == 'merge')
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main()
