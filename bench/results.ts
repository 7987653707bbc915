/**
 * Appends bench rows to bench/results/<date>-<device>.json ({device, date, rows: [{name, unit,
 * ttslab, pytorch, note?}]}, the format bench/run.ts writes): rows measured now replace their
 * namesakes, other rows and keys stay. Used by bench/whisper.ts and bench/csm.ts.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';

export interface BenchRow {
  name: string;
  unit: string;
  ttslab: number | null;
  pytorch: number | null;
  note?: string;
}

export function deviceSlug(device: string): string {
  return device.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/** Writes the merged file (and a copy into `outDir` when given); returns its path. */
export function appendRows(device: string, rows: BenchRow[], options: { quick?: boolean; outDir?: string; extra?: Record<string, unknown> } = {}): string {
  const date = process.env.BENCH_DATE ?? new Date().toISOString().slice(0, 10);
  const slug = deviceSlug(device);
  const dir = join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${date}-${options.quick ? 'quick-' : ''}${slug}.json`);
  const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown> & { rows: BenchRow[] }) : { rows: [] as BenchRow[] };
  const merged = [...previous.rows.filter((r) => !rows.some((n) => n.name === r.name)), ...rows];
  const result = { ...previous, ...options.extra, device: (previous as { device?: string }).device ?? device, date, rows: merged };
  const text = JSON.stringify(result, null, 2) + '\n';
  writeFileSync(file, text);
  if (options.outDir) writeFileSync(join(options.outDir, `results-${date}-${slug}.json`), text);
  return file;
}

export function printRows(rows: BenchRow[]): void {
  const fmt = (v: number | null) => (v == null ? '-' : v >= 100 ? v.toFixed(0) : v.toPrecision(3));
  console.log('| name | unit | ttslab | pytorch | note |\n| --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.name} | ${r.unit} | ${fmt(r.ttslab)} | ${fmt(r.pytorch)} | ${r.note ?? ''} |`);
}

/** Median of a non-empty list (the upper middle for an even count). */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Runs fn and returns the peak of live tensor bytes while it ran (tfjs engine's own count). */
export async function peakBytes(fn: () => Promise<void>): Promise<number> {
  const engine = tf.engine() as unknown as { state: { numBytes: number }; trackTensor: (...a: unknown[]) => void };
  const original = engine.trackTensor;
  let peak = engine.state.numBytes;
  engine.trackTensor = function (this: typeof engine, ...a: unknown[]) {
    original.apply(this, a);
    if (this.state.numBytes > peak) peak = this.state.numBytes;
  };
  try {
    await fn();
  } finally {
    engine.trackTensor = original;
  }
  return peak;
}
