#!/usr/bin/env bash
# The ttslab-mini training run on a GPU machine with python3 + torch + transformers and no
# package registry. Run from the repository root:
#   scripts/mini/gpu_train.sh codec OUT [CLIPS_PER_SPEAKER] [CODEC_MINUTES]
#     -> OUT/mimi/, OUT/codes.npz, OUT/manifest.jsonl, OUT/codec_eval.json
#     (the mini Mimi of the first attempt, kept for comparison: models/mini/README.md)
#   scripts/mini/gpu_train.sh csm-mel OUT MEL_CODEC_DIR [CLIPS_PER_SPEAKER] [CSM_MINUTES] [-- TRAIN_CSM_ARGS]
#     synthesises the corpus (the same one train_melcodec.py was fitted on, for the same
#     CLIPS_PER_SPEAKER), encodes it with the mel codec (melcodec.py, on every core), trains the
#     mini CSM -> OUT/csm/ (config.json, model.safetensors F16 with the codec inside,
#     tokenizer, train_eval.json) and OUT/csm_samples.npz, then splits the weights into parts of
#     at most 15 MiB as OUT/csm.partN.safetensors (pack_weights.py) for the trip back.
# The codec stage synthesises the corpus first, with the flite/espeak-ng copy that
# pack_tools.sh put in .mini-tools/tools.tar.xz (carried to the machine).
set -euo pipefail
stage=$1 out=$2
export PYTHONUNBUFFERED=1
mkdir -p "$out"
case $stage in
  codec)
    clips=${3:-150} minutes=${4:-5.5}
    tools=$(mktemp -d)
    tar -C "$tools" -xJf .mini-tools/tools.tar.xz
    corpus=$(mktemp -d)
    python3 scripts/mini/corpus.py "$corpus" --clips-per-speaker "$clips" --jobs "$(nproc)" --tools "$tools/tools"
    cp "$corpus/manifest.jsonl" "$out/"
    python3 scripts/mini/train_codec.py "$corpus" "$out" --minutes "$minutes"
    ;;
  csm-mel)
    codec=$3 clips=${4:-600} minutes=${5:-6.5}
    shift $(( $# < 5 ? $# : 5 )); [ "${1:-}" = "--" ] && shift
    tools=$(mktemp -d)
    tar -C "$tools" -xJf .mini-tools/tools.tar.xz
    corpus=$(mktemp -d)
    python3 scripts/mini/corpus.py "$corpus" --clips-per-speaker "$clips" --jobs "$(nproc)" --tools "$tools/tools"
    python3 scripts/mini/encode_corpus_mel.py "$corpus" "$codec" "$corpus/codes" --jobs "$(nproc)"
    python3 scripts/mini/train_csm.py "$corpus/codes/manifest.jsonl" "$corpus/codes" "$out/csm" --minutes "$minutes" "$@"
    python3 scripts/mini/pack_weights.py split "$out/csm/model.safetensors" "$out/csm"
    rm "$out/csm/model.safetensors"  # over the 16 MiB a returned file may have; the parts carry it
    ;;
  *) echo "stage must be codec or csm-mel, got $stage" >&2; exit 2 ;;
esac
