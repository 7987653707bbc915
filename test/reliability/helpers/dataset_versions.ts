/** Deterministic dataset versions for the crash-safety test of saveDataset: version v is fully known from v. */
import { encodeWav } from '../../../src/audio/wav';
import type { DatasetRow } from '../../../src/data/dataset';

const SR = 16_000;

function row(v: number, split: string, i: number): DatasetRow {
  // 0.25 s of a tone whose pitch depends on the version and row: every version's bytes differ.
  const n = SR / 4;
  const f = 200 + 37 * v + 11 * i;
  const x = new Float32Array(n);
  for (let t = 0; t < n; t++) x[t] = 0.3 * Math.sin((2 * Math.PI * f * t) / SR);
  const { bytes } = encodeWav({ sampleRate: SR, channels: [x] });
  return { audio: { bytes: new Uint8Array(bytes), path: `v${v}_${split}_${i}.wav` }, text: `version ${v} ${split} row ${i}`, source: i % 2, duration: n / SR };
}

/** Version v: train (8 rows) and validation (2 rows); version 1 also writes a test split (later versions keep it). */
export function datasetVersion(v: number): Record<string, DatasetRow[]> {
  const splits: Record<string, DatasetRow[]> = {
    train: Array.from({ length: 8 }, (_, i) => row(v, 'train', i)),
    validation: Array.from({ length: 2 }, (_, i) => row(v, 'validation', i)),
  };
  if (v === 1) splits.test = Array.from({ length: 2 }, (_, i) => row(v, 'test', i));
  return splits;
}

/** The version a split's rows are, or throws when rows mix versions or differ from that version's bytes. */
export function versionOf(rows: DatasetRow[], split: string): number {
  const m = /^version (\d+) /.exec(rows[0]?.text ?? '');
  if (!m) throw new Error(`${split}: first row text ${JSON.stringify(rows[0]?.text)} names no version`);
  const v = Number(m[1]);
  const want = datasetVersion(v)[split] ?? datasetVersion(1)[split];
  if (!want || want.length !== rows.length) throw new Error(`${split}: ${rows.length} rows, version ${v} has ${want?.length}`);
  rows.forEach((r, i) => {
    const w = want[i]!;
    if (r.text !== w.text || r.source !== w.source || r.audio.path !== w.audio.path || Buffer.compare(Buffer.from(r.audio.bytes), Buffer.from(w.audio.bytes)) !== 0) {
      throw new Error(`${split} row ${i}: not row ${i} of version ${v} (text ${JSON.stringify(r.text)})`);
    }
  });
  return v;
}
