/**
 * The mini Whisper on the sample talk (issue 9): notebook 02's call, `transcribe(talk.flac,
 * { language: 'en', wordTimestamps: true })`, with models/mini/whisper, then the WER of the
 * whole transcript against the talk's text (datasets/sample-talk/talk.txt; both sides through
 * `normalizeEnglish`). Prints segments, WER, seconds and the first segments.
 *
 *   node --import tsx scripts/mini/eval_whisper_talk.ts [--model DIR] [--backend wasm|cpu] [--no-condition]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SAMPLE_TALK_DIR } from '../../src/data/workspace';
import { wordErrorRate } from '../../src/eval/wer';
import { transcribe } from '../../src/models/whisper';
import { MINI_WHISPER_DIR } from '../../src/models/registry';
import { initRuntime, type BackendRequest } from '../../src/runtime';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { model: { type: 'string', default: MINI_WHISPER_DIR }, backend: { type: 'string', default: 'wasm' }, 'no-condition': { type: 'boolean' } } });
  const runtime = await initRuntime({ backend: values.backend as BackendRequest });
  const audio = join(SAMPLE_TALK_DIR, 'talk.flac');
  const reference = readFileSync(join(SAMPLE_TALK_DIR, 'talk.txt'), 'utf8');
  const t0 = Date.now();
  const result = await transcribe(audio, {
    modelId: values.model, language: 'en', wordTimestamps: true, conditionOnPreviousText: !values['no-condition'], progress: 'none',
  });
  const seconds = (Date.now() - t0) / 1000;
  const wer = wordErrorRate(reference, result.text);
  console.log(`${runtime.backend}: ${result.segments.length} segments, WER ${wer.wer.toFixed(3)} (${wer.substitutions} sub, ${wer.deletions} del, ${wer.insertions} ins of ${wer.referenceLength} words), ${seconds.toFixed(0)} s`);
  for (const s of result.segments.slice(0, 4)) console.log(`  ${s.start.toFixed(1)}-${s.end.toFixed(1)} s: ${s.text.trim()}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
