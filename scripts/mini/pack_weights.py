"""Splits a CSM checkpoint into its own weights and the codec's, or merges them back.

The GPU machine returns files of at most 16 MiB, so the mini CSM (codec inside) travels as
two parts and is reassembled here:
    python3 scripts/mini/pack_weights.py split CSM_DIR/model.safetensors CSM_ONLY.safetensors
    python3 scripts/mini/pack_weights.py merge CSM_ONLY.safetensors MIMI_DIR/model.safetensors OUT.safetensors
The merged file holds CSM_ONLY's tensors plus every Mimi tensor as `codec_model.<name>`
(transformers' layout of CSM-1B); tensors are copied as stored (F16). The backbone's copy of
the tied audio table travels once: split drops it (after checking it equals the depth
decoder's), merge writes it back, since transformers' from_pretrained does not rebuild it.
"""
import sys

from safetensors.numpy import load_file, save_file

AUDIO = 'backbone_model.embed_tokens.embed_audio_tokens.weight'
DEPTH = 'depth_decoder.model.embed_tokens.weight'


def main() -> None:
    verb = sys.argv[1] if len(sys.argv) > 1 else ''
    if verb == 'split' and len(sys.argv) == 4:
        w = load_file(sys.argv[2])
        if AUDIO in w:
            if not (w[AUDIO] == w[DEPTH]).all():
                raise SystemExit(f'{sys.argv[2]}: {AUDIO} differs from {DEPTH}: the tables are not tied')
            del w[AUDIO]
        save_file({k: v for k, v in w.items() if not k.startswith('codec_model.')}, sys.argv[3], metadata={'format': 'pt'})
    elif verb == 'merge' and len(sys.argv) == 5:
        w = load_file(sys.argv[2])
        clash = [k for k in w if k.startswith('codec_model.')]
        if clash:
            raise SystemExit(f'{sys.argv[2]} already holds codec tensors, e.g. {clash[0]}')
        w.setdefault(AUDIO, w[DEPTH])
        w.update({f'codec_model.{k}': v for k, v in load_file(sys.argv[3]).items()})
        save_file(w, sys.argv[4], metadata={'format': 'pt'})
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main()
