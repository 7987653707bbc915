/**
 * Crash-safety child: tokenizes 8 short clips of the flite speech fixture with the tiny
 * random Mimi codec of test/fixtures/mimi through the on-disk cache in argv[2], under the
 * seeded kill point of helpers/killpoint.ts. Prints the summary as JSON when it finishes.
 */
import { installKillHook } from '../helpers/killpoint';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { decodeWav, encodeWav } from '../../../src/audio/wav';
import { MimiModel } from '../../../src/models/mimi';
import { tokenizeDataset, type TokenizeRow } from '../../../src/data/tokenize';
import { ROOT } from '../helpers/common';

export const CLIPS = 8;
const FIXTURE = join(ROOT, 'test', 'fixtures', 'mimi');

async function main(cacheDir: string): Promise<void> {
  installKillHook();
  await tf.setBackend('cpu');
  const speech = decodeWav(readFileSync(join(FIXTURE, 'speech_slt_24k.wav')));
  const x = speech.channels[0]!;
  // Clips of 0.2 s (5 Mimi frames) from different places of the recording.
  const rows: TokenizeRow[] = Array.from({ length: CLIPS }, (_, i) => {
    const start = 2400 + i * 7200;
    const clip = x.subarray(start, start + 4800);
    return { audio: { bytes: encodeWav({ sampleRate: speech.sampleRate, channels: [clip] }, { format: 'float32' }).bytes, path: `clip_${i}.wav` }, text: `clip ${i}` };
  });
  const mimi = await MimiModel.fromPretrained(FIXTURE);
  const notices: string[] = [];
  const { summary } = await tokenizeDataset(rows, { ...mimi.asAudioCodec(8), id: 'mimi-tiny-fixture:8' }, { cacheDir, progress: 'none', onNotice: (m) => notices.push(m) });
  mimi.dispose();
  console.log(JSON.stringify({ summary, notices }));
}

main(process.argv[2]!).catch((e) => {
  console.error(e);
  process.exit(1);
});
