#!/usr/bin/env bash
# The ttslab-mini training run on a GPU machine with python3 + torch + transformers and no
# package registry. Run from the repository root:
#   scripts/mini/gpu_train.sh codec OUT [CLIPS_PER_SPEAKER] [CODEC_MINUTES]
#     -> OUT/mimi/, OUT/codes.npz, OUT/manifest.jsonl, OUT/codec_eval.json
#   scripts/mini/gpu_train.sh csm OUT CODEC_DIR [CSM_MINUTES]
#     (CODEC_DIR: the codec stage's OUT) -> OUT/csm/, OUT/csm_samples.npz
#   scripts/mini/gpu_train.sh csm-big OUT CODEC_DIR [CLIPS_PER_SPEAKER] [CSM_MINUTES]
#     re-synthesises a larger corpus, encodes it with CODEC_DIR/mimi, trains the CSM
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
  csm-big)
    # A larger corpus (text variety against memorisation), encoded with the trained codec, then the CSM.
    codec=$3 clips=${4:-1000} minutes=${5:-4}
    tools=$(mktemp -d)
    tar -C "$tools" -xJf .mini-tools/tools.tar.xz
    corpus=$(mktemp -d)
    python3 scripts/mini/corpus.py "$corpus" --clips-per-speaker "$clips" --jobs "$(nproc)" --tools "$tools/tools"
    python3 scripts/mini/encode_corpus.py "$corpus" "$codec/mimi" "$out/codes"
    python3 scripts/mini/train_csm.py "$out/codes/manifest.jsonl" "$out/codes" "$out/csm" --minutes "$minutes"
    ;;
  csm)
    codec=$3 minutes=${4:-7}
    python3 scripts/mini/train_csm.py "$codec/manifest.jsonl" "$codec" "$out/csm" --minutes "$minutes"
    ;;
  *) echo "stage must be codec or csm, got $stage" >&2; exit 2 ;;
esac
