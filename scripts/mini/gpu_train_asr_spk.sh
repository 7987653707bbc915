#!/usr/bin/env bash
# The mini Whisper and the mini speaker encoder of ttslab-mini (issue 9), in one GPU-machine
# command (python3 with torch + transformers, no package registry). Run from the repository root:
#
#   scripts/mini/gpu_train_asr_spk.sh OUT [WHISPER_MINUTES] [SPEAKER_MINUTES]
#
# SPEAKER_MINUTES 0 (or WHISPER_MINUTES 0) skips that model. DEADLINE (seconds, default 560) bounds
# the whole command: the training budgets shrink when synthesis runs late. WHISPER_ARGS goes to
# train_whisper.py's full run, e.g. "--init .mini-carry/whisper --curriculum 0" to continue from
# an earlier run's weights (carry that folder too).
#
# Needs .mini-tools/tools.tar.xz (scripts/mini/pack_tools.sh: flite + espeak-ng, self-contained)
# and .mini-tools/scowl-words.txt (python3 scripts/mini/asr_spk_data.py words .mini-tools/scowl-words.txt,
# after apt-get install scowl); carry .mini-tools to the machine.
#
# 1. synthesises a tiny corpus and runs both trainers for a few steps and both evaluators on it
#    (a bug shows within a minute), while the full corpus (asr_spk_data.py) is synthesised;
# 2. trains both models at once on the one GPU, each within its time budget, then evaluates
#    each (eval_whisper.py: WER of the unseen voices; eval_speaker.py: EER of the unseen speakers);
# 3. leaves OUT/whisper.tar and OUT/speaker.tar (weights, configs, tokenizer, train log, eval json,
#    logs): few files, as the GPU machine returns at most 8.
# A trainer whose smoke run fails is skipped (the other still runs); the script then exits 1.
set -uo pipefail
out=$1 wmin=${2:-5} smin=${3:-4}
export PYTHONUNBUFFERED=1
here=scripts/mini
words=.mini-tools/scowl-words.txt
for f in .mini-tools/tools.tar.xz "$words"; do
  [ -f "$f" ] || { echo "missing $f (see the header of $0)" >&2; exit 2; }
done
mkdir -p "$out"
work=$(mktemp -d)
tools=$(mktemp -d)
tar -C "$tools" -xJf .mini-tools/tools.tar.xz || exit 2
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*"; }

stamp "smoke corpus"
python3 $here/asr_spk_data.py corpus "$work/smoke" --words "$words" --tools "$tools/tools" --smoke || exit 1
python3 $here/asr_spk_data.py corpus "$work/corpus" --words "$words" --tools "$tools/tools" --jobs "$(nproc)" > "$work/corpus.log" 2>&1 &
corpus_pid=$!
skip() { python3 -c "import sys; sys.exit(0 if float('$1') == 0 else 1)"; }
( skip "$wmin" && echo "whisper skipped" && exit 3
  python3 $here/train_whisper.py train "$work/smoke" "$work/smoke_w" --smoke --max-steps 6 --batch 8 \
  && python3 $here/eval_whisper.py "$work/smoke_w" "$work/smoke" "$work/smoke_w/eval.json" --limit 3 ) > "$work/smoke_w.log" 2>&1 &
wp=$!
( skip "$smin" && echo "speaker skipped" && exit 3
  python3 $here/train_speaker.py "$work/smoke" "$work/smoke_s" --smoke --max-steps 6 --batch 16 \
  && python3 $here/eval_speaker.py "$work/smoke_s" "$work/smoke" "$work/smoke_s/eval.json" --limit 4 ) > "$work/smoke_s.log" 2>&1 &
sp=$!
wait $wp; w_ok=$?
wait $sp; s_ok=$?
stamp "smoke: whisper rc $w_ok, speaker rc $s_ok"
echo "---- smoke whisper"; tail -n 40 "$work/smoke_w.log"
echo "---- smoke speaker"; tail -n 30 "$work/smoke_s.log"
if [ $w_ok -ne 0 ] && [ $s_ok -ne 0 ]; then  # (3: skipped)
  kill $corpus_pid 2>/dev/null
  echo "both smoke runs failed" >&2
  exit 1
fi
wait $corpus_pid; c_ok=$?
cat "$work/corpus.log"
[ $c_ok -eq 0 ] || { echo "corpus synthesis failed" >&2; exit 1; }
stamp "corpus done"
# Keep the whole command inside DEADLINE seconds (the GPU machine's call limit): shrink the
# training budgets if synthesis took longer than planned, leaving EVAL_MARGIN for evaluation.
avail=$(( ${DEADLINE:-560} - ($(date +%s) - t0) - ${EVAL_MARGIN:-80} ))
cap=$(python3 -c "print(max(0.5, $avail / 60))")
wmin=$(python3 -c "print(min($wmin, $cap))"); smin=$(python3 -c "print(min($smin, $cap))")
stamp "training budgets: whisper $wmin min, speaker $smin min"

pids=()
if [ $w_ok -eq 0 ]; then
  ( python3 $here/train_whisper.py train "$work/corpus" "$out/whisper" --minutes "$wmin" ${WHISPER_ARGS:-} \
    && python3 $here/eval_whisper.py "$out/whisper" "$work/corpus" "$out/whisper/eval.json" --batch 200 ) > "$work/whisper.log" 2>&1 &
  pids+=($!)
fi
if [ $s_ok -eq 0 ]; then
  ( python3 $here/train_speaker.py "$work/corpus" "$out/speaker" --minutes "$smin" \
    && python3 $here/eval_speaker.py "$out/speaker" "$work/corpus" "$out/speaker/eval.json" ) > "$work/speaker.log" 2>&1 &
  pids+=($!)
fi
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
stamp "training + evaluation done (rc $rc)"
for m in whisper speaker; do
  [ -f "$work/$m.log" ] || continue
  echo "---- $m log"; grep -v '^\(whisper\|speaker\) {' "$work/$m.log" | tail -n 60
  grep '^\(whisper\|speaker\) {' "$work/$m.log" | awk 'NR % 5 == 1' | tail -n 12
  mkdir -p "$out/$m"
  cp "$work/$m.log" "$out/$m/"
  cp "$work/smoke_${m:0:1}.log" "$out/$m/smoke.log" 2>/dev/null
done
cp "$work/corpus.log" "$out/whisper/" 2>/dev/null
for m in whisper speaker; do
  [ -d "$out/$m" ] && tar -C "$out" -cf "$out/$m.tar" "$m" && rm -rf "${out:?}/$m"
done
ls -l "$out"
# 3 = skipped on purpose
{ [ $w_ok -eq 0 ] || [ $w_ok -eq 3 ]; } && { [ $s_ok -eq 0 ] || [ $s_ok -eq 3 ]; } && exit $rc
exit 1
