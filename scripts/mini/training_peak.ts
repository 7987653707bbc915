/**
 * Peak tensor memory of one mini CSM LoRA training step on a long clip (the figure behind
 * "a 30 s clip needs more memory than the wasm backend has", models/mini/README.md).
 *
 *   node --import tsx scripts/mini/training_peak.ts CODES_DIR [--frames 750] [--text-repeat 2]
 *
 * CODES_DIR: encode_corpus_mel.py's output (manifest.jsonl + codes.npz is read through
 * python3, which has numpy). The clip: the codes of the first `flite-rms` training clips
 * concatenated and cut to `--frames` frames (750 = 30 s at 25 Hz), its text those clips'
 * texts joined and repeated `--text-repeat` times. One forward + backward of the workshop's
 * LoRA (r 32, 7 projections) on the cpu backend under `tf.profile`.
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { loadTtsModel } from '../../src/models/registry';
import type { CsmTts } from '../../src/models/csm/tts';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { frames: { type: 'string', default: '750' }, 'text-repeat': { type: 'string', default: '2' } } });
  const dir = positionals[0];
  if (!dir) throw new Error('usage: training_peak.ts CODES_DIR [--frames 750] [--text-repeat 2]');
  const frames = Number(values.frames);
  const py = `import json,sys,numpy as np
d=sys.argv[1]; rows=[json.loads(l) for l in open(d+'/manifest.jsonl')]; z=np.load(d+'/codes.npz'); c=z['codes']; f=z['frames']
s=np.concatenate([[0],np.cumsum(f)[:-1]]); ids=[i for i,r in enumerate(rows) if r['speaker']=='flite-rms' and r['split']=='train'][:6]
print(json.dumps(dict(text=' '.join(rows[i]['text'] for i in ids), codes=np.concatenate([c[s[i]:s[i]+f[i]] for i in ids]).astype(int).tolist())))`;
  const clip = JSON.parse(execFileSync('python3', ['-c', py, dir], { encoding: 'utf8', maxBuffer: 1 << 28 })) as { text: string; codes: number[][] };
  const codes: number[][] = [];
  while (codes.length < frames) codes.push(...clip.codes);
  const text = Array(Number(values['text-repeat'])).fill(clip.text).join('');
  await tf.setBackend('cpu');
  const tts = (await loadTtsModel('mini')) as CsmTts;
  const [example] = tts.buildTrainingExamples([{ text, source: 2, codes: codes.slice(0, frames) }]);
  const trainable = tts.trainable({ loraR: 32, loraAlpha: 16, useRslora: true, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] });
  const vars = trainable.trainableVariables().map((v) => v.variable);
  const batch = trainable.collate([example!]);
  const info = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => trainable.loss(batch, { training: true }), vars);
    tf.dispose(Object.values(grads));
    return value;
  });
  console.log(`${frames} frames + ${text.length} text bytes = ${trainable.exampleLength(example!)} positions: peak ${(info.peakBytes / 2 ** 30).toFixed(2)} GiB of tensors (cpu backend)`);
  tts.dispose();
}

main().catch((e) => { console.error(e); process.exit(1); });
