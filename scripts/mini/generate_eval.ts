/**
 * Speaks held-out sentences with a mini CSM through ttslab's own loader and generation (the
 * path the notebooks use) and writes one WAV per sentence plus a manifest for the judge
 * (scripts/mini/judge_wavs.py). Used for issue 9's acceptance 1 and 3.
 *
 *   node --import tsx scripts/mini/generate_eval.ts MODEL_DIR OUT_DIR --texts FILE.jsonl
 *       [--voice flite-rms] [--speaker 2] [--seed 0] [--temperature 0.7] [--top-k 50] [--adapter DIR] [--limit N]
 *
 * FILE.jsonl: one {"text": ...} a line, or corpus.py's manifest.jsonl with --voice: its
 * held-out ('eval') sentences of that voice.
 * OUT_DIR/manifest.jsonl: {"text", "path", "frames", "seconds"} per sentence.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { encodeWav } from '../../src/audio/wav';
import { loadTtsModel } from '../../src/models/registry';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      texts: { type: 'string' }, speaker: { type: 'string', default: '2' }, seed: { type: 'string', default: '0' },
      temperature: { type: 'string', default: '0.7' }, 'top-k': { type: 'string', default: '50' },
      adapter: { type: 'string' }, limit: { type: 'string' }, voice: { type: 'string' },
    },
  });
  const [modelDir, outDir] = positionals;
  if (!modelDir || !outDir || !values.texts) throw new Error('usage: generate_eval.ts MODEL_DIR OUT_DIR --texts FILE.jsonl [--speaker N]');
  await tf.setBackend('cpu');
  const lines = readFileSync(values.texts, 'utf8').split('\n').filter((l) => l.trim());
  const rows = lines.map((l, i) => {
    const r = JSON.parse(l);
    if (typeof r.text !== 'string' || !r.text.trim()) throw new Error(`${values.texts}:${i + 1}: no "text" string`);
    return r as { text: string; speaker?: string; split?: string };
  });
  const texts = rows.filter((r) => !values.voice || (r.speaker === values.voice && r.split === 'eval')).map((r) => r.text)
    .slice(0, values.limit ? Number(values.limit) : undefined);
  if (texts.length === 0) throw new Error(`${values.texts}: no sentences${values.voice ? ` of voice ${values.voice} in split eval` : ''}`);
  const tts = await loadTtsModel(modelDir);
  if (values.adapter) await tts.loadAdapter(values.adapter);
  mkdirSync(outDir, { recursive: true });
  const out: string[] = [];
  const t0 = Date.now();
  const sampling = {
    doSample: true, temperature: Number(values.temperature), topK: Number(values['top-k']),
    depthDecoder: { doSample: true, temperature: Number(values.temperature), topK: Number(values['top-k']) },
  };
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i]!;
    const codes = await tts.generate({ text, speaker: Number(values.speaker), sampling, seed: Number(values.seed) + i });
    const samples = codes.length ? await tts.codec.decode(codes) : new Float32Array(tts.codec.frameSamples);
    const path = `${String(i).padStart(3, '0')}.wav`;
    writeFileSync(join(outDir, path), encodeWav({ sampleRate: tts.codec.sampleRate, channels: [samples] }).bytes);
    out.push(JSON.stringify({ text, path, frames: codes.length, seconds: samples.length / tts.codec.sampleRate }));
    process.stdout.write(`\r${i + 1}/${texts.length} sentences, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  writeFileSync(join(outDir, 'manifest.jsonl'), out.join('\n') + '\n');
  process.stdout.write(`\n${texts.length} WAVs -> ${outDir}\n`);
  tts.dispose();
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
