/** Bad-input corpus pieces made by the tests themselves (nothing binary is committed). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeWav } from '../../../src/audio/wav';
import { writeParquet, type DatasetRow } from '../../../src/data/dataset';

interface SchemaElement { name: string; type?: string; repetition_type?: string; converted_type?: string; num_children?: number }
const writer = () => require('hyparquet-writer') as {
  parquetWriteBuffer(o: { columnData: { name: string; data: unknown[] }[]; schema: SchemaElement[] }): ArrayBuffer;
};

export function tinyRows(n = 3): DatasetRow[] {
  return Array.from({ length: n }, (_, i) => {
    const x = Float32Array.from({ length: 800 }, (_, t) => 0.3 * Math.sin((t * (i + 1)) / 7));
    return { audio: { bytes: new Uint8Array(encodeWav({ sampleRate: 16000, channels: [x] }).bytes), path: `c${i}.wav` }, text: `clip number ${i}`, source: 0, duration: 0.05 };
  });
}

/** A valid dataset file as writeParquet writes it. */
export async function validParquetBytes(dir: string): Promise<Uint8Array> {
  const f = join(dir, 'valid.parquet');
  await writeParquet(f, tinyRows());
  return new Uint8Array(readFileSync(f));
}

export type ParquetVariant = 'no-audio' | 'no-text' | 'audio-as-string' | 'text-as-int' | 'no-rows' | 'audio-path-only';

/** A Parquet file that is valid Parquet but not a valid dataset (a column missing or of the wrong type). */
export async function corpusParquet(_dir: string, variant: ParquetVariant): Promise<Uint8Array> {
  const rows = tinyRows();
  const str = (name: string): SchemaElement => ({ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' });
  const audioGroup: SchemaElement[] = [
    { name: 'audio', repetition_type: 'OPTIONAL', num_children: 2 },
    { name: 'bytes', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' },
    str('path'),
  ];
  const audioData = { name: 'audio', data: rows.map((r) => ({ bytes: r.audio.bytes, path: r.audio.path })) };
  const textData = { name: 'text', data: rows.map((r) => r.text) };
  let columnData: { name: string; data: unknown[] }[];
  let schema: SchemaElement[];
  switch (variant) {
    case 'no-audio':
      columnData = [textData, { name: 'duration', data: rows.map((r) => r.duration) }];
      schema = [{ name: 'schema', num_children: 2 }, str('text'), { name: 'duration', type: 'DOUBLE', repetition_type: 'OPTIONAL' }];
      break;
    case 'no-text':
      columnData = [audioData];
      schema = [{ name: 'schema', num_children: 1 }, ...audioGroup];
      break;
    case 'audio-as-string':
      columnData = [{ name: 'audio', data: rows.map((r) => r.audio.path) }, textData];
      schema = [{ name: 'schema', num_children: 2 }, str('audio'), str('text')];
      break;
    case 'text-as-int':
      columnData = [audioData, { name: 'text', data: rows.map((_, i) => BigInt(i)) }];
      schema = [{ name: 'schema', num_children: 2 }, ...audioGroup, { name: 'text', type: 'INT64', repetition_type: 'OPTIONAL' }];
      break;
    case 'audio-path-only':
      columnData = [{ name: 'audio', data: rows.map((r) => ({ bytes: null, path: r.audio.path })) }, textData];
      schema = [{ name: 'schema', num_children: 2 }, ...audioGroup, str('text')];
      break;
    case 'no-rows':
      columnData = [{ name: 'audio', data: [] }, { name: 'text', data: [] }];
      schema = [{ name: 'schema', num_children: 2 }, ...audioGroup, str('text')];
      break;
  }
  return new Uint8Array(writer().parquetWriteBuffer({ columnData, schema }));
}
