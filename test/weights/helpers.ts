/** Shared helpers for the weights tests: temp dirs and hand-built (possibly malformed) files. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/generate/rng';

export function tempDir(prefix = 'ttslab-weights-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Bytes of a safetensors file with an arbitrary header (object or raw string) and data section. */
export function rawSafetensors(header: unknown, data: Uint8Array = new Uint8Array(0), lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

export function writeRaw(path: string, bytes: Uint8Array): string {
  writeFileSync(path, bytes);
  return path;
}

/** Deterministic generator of [0, 1) numbers (the library's Rng) so fuzz and data tests are reproducible from a seed. */
export function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}
