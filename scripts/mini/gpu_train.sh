#!/usr/bin/env bash
# The ttslab-mini training run on a GPU machine with python3 + torch + transformers and no
# package registry. Run from the repository root:
#   scripts/mini/gpu_train.sh codec OUT [CLIPS_PER_SPEAKER] [CODEC_MINUTES]
#     -> OUT/mimi/, OUT/codes.npz, OUT/manifest.jsonl, OUT/codec_eval.json
#     (the mini Mimi of the first attempt, kept for comparison: models/mini/README.md)
#   scripts/mini/gpu_train.sh csm-mel OUT MEL_CODEC_DIR|fit [CLIPS_PER_SPEAKER] [CSM_MINUTES] [-- TRAIN_CSM_ARGS]
#     synthesises the corpus, with `fit` fits the mel codec on it first (train_melcodec.py,
#     k-means on the GPU, CODEC_ARGS; its intelligibility is judged afterwards on a machine with
#     pocketsphinx), encodes it with the mel codec (melcodec.py, on every core), trains the
#     mini CSM -> OUT/csm/ (config.json, model.safetensors F16 with the codec inside,
#     tokenizer, train_eval.json, csm_samples.npz), then splits the weights into parts of at
#     most 15 MiB as OUT/csm.partN.safetensors (pack_weights.py) and tars the rest as OUT/csm.tar
#     for the trip back.
#   scripts/mini/gpu_train.sh csm-codes OUT CODES_DIR[:CODES_DIR...] [CSM_MINUTES] [-- TRAIN_CSM_ARGS]
#     trains the mini CSM from codes made beforehand (encode_corpus_mel.py, then shard_codes.py
#     to fit the 64 MiB that travel; carry the shard), e.g. continuing with
#     `-- --init PARTS...` from the parts an earlier call returned; outputs as csm-mel's.
# The codec stage synthesises the corpus first, with the flite/espeak-ng copy that
# pack_tools.sh put in .mini-tools/tools.tar.xz (carried to the machine).
set -euo pipefail
stage=$1 out=$2
t0=$(date +%s)
export PYTHONUNBUFFERED=1
# One BLAS thread per process: the feature and encoding steps run a process per core, and
# numpy's threaded BLAS in each of them oversubscribed the 16 cores (features of 20 h of
# audio took 450 s instead of about 60). The k-means runs in torch on the GPU.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$out"
# OUT/csm -> OUT/csm.partN.safetensors (the weights, at most 15 MiB each) + OUT/csm.tar (the rest).
pack_csm() {
  python3 scripts/mini/pack_weights.py split "$1/csm/model.safetensors" "$1/csm"
  rm "$1/csm/model.safetensors"  # over the 16 MiB a returned file may have; the parts carry it
  mv "$1/csm_samples.npz" "$1/csm/" 2>/dev/null || true
  local extra
  extra=$([ -d "$1/codec" ] && echo codec || true)
  tar -C "$1" -cf "$1/csm.tar" csm $extra && rm -rf "${1:?}/csm" "${1:?}/codec"  # few files: the machine returns at most 8
  echo "[$(( $(date +%s) - t0 )) s] packed: $(ls "$1" | tr '\n' ' ')"
}
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
    echo "[$(( $(date +%s) - t0 )) s] corpus synthesised"
    if [ "$codec" = fit ]; then
      codec=$out/codec
      python3 scripts/mini/train_melcodec.py "$corpus" "$codec" --jobs "$(nproc)" --device cuda --eval-voices '' \
        ${CODEC_ARGS:---frames-per-code 4 --dim 64 --codebooks 32 --codebook-size 256 --iters 10}
      echo "[$(( $(date +%s) - t0 )) s] codec fitted"
    fi
    python3 scripts/mini/encode_corpus_mel.py "$corpus" "$codec" "$corpus/codes" --jobs "$(nproc)"
    # Keep the stage inside DEADLINE seconds (default 560: a GPU call may last 600) with
    # MARGIN seconds (default 100) for the eval loss, saving, samples and packing.
    minutes=$(python3 -c "print(round(max(0.5, min($minutes, (${DEADLINE:-560} - ($(date +%s) - $t0) - ${MARGIN:-100}) / 60)), 2))")
    echo "[$(( $(date +%s) - t0 )) s] corpus encoded; training for $minutes min"
    python3 scripts/mini/train_csm.py "$corpus/codes/manifest.jsonl" "$corpus/codes" "$out/csm" --minutes "$minutes" "$@"
    pack_csm "$out"
    ;;
  csm-codes)
    codes=$3 minutes=${4:-7}
    shift $(( $# < 4 ? $# : 4 )); [ "${1:-}" = "--" ] && shift
    minutes=$(python3 -c "print(round(max(0.5, min($minutes, (${DEADLINE:-560} - ($(date +%s) - $t0) - ${MARGIN:-60}) / 60)), 2))")
    if [[ $codes == *:* ]]; then  # several shards (shard_codes.py): merged into one folder first
      IFS=: read -ra shards <<< "$codes"
      codes=$(mktemp -d)
      python3 scripts/mini/shard_codes.py --merge "$codes" "${shards[@]}"
    fi
    echo "[$(( $(date +%s) - t0 )) s] training for $minutes min on $codes"
    python3 scripts/mini/train_csm.py "$codes/manifest.jsonl" "$codes" "$out/csm" --minutes "$minutes" "$@"
    pack_csm "$out"
    ;;
  *) echo "stage must be codec, csm-mel or csm-codes, got $stage" >&2; exit 2 ;;
esac
