/**
 * Readers for openai-whisper JSON, Hugging Face ASR pipeline chunks, SRT and VTT.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { TranscriptError, type Segment, type Transcript, type Word } from './types';

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function requireTime(v: unknown, file: string, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TranscriptError(file, `${where} is ${JSON.stringify(v)}, not a number of seconds`);
  return v;
}

/** C0 controls other than tab, line feed and carriage return, DEL and C1 controls: never text of speech. */
const CONTROL_RE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

/** Returns `text` when it holds no control character; else throws naming the field and the character. */
function requireText(v: unknown, file: string, where: string): string {
  if (typeof v !== 'string') throw new TranscriptError(file, `${where} is ${JSON.stringify(v)}, not a string`);
  const m = CONTROL_RE.exec(v);
  if (m) {
    const code = `U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
    throw new TranscriptError(file, `${where} holds the control character ${code} at index ${m.index} (${JSON.stringify(v.slice(Math.max(0, m.index - 20), m.index + 20))}): remove it`);
  }
  return v;
}

/**
 * openai-whisper's `transcribe()` result (`{text, segments: [{id, start, end, text,
 * avg_logprob, no_speech_prob, compression_ratio, words?}], language}`), as `whisper
 * --output_format json` writes it.
 */
export function parseWhisperJson(json: unknown, file = '<json>'): Transcript {
  const o = json as { segments?: unknown; language?: unknown };
  if (!o || typeof o !== 'object' || !Array.isArray(o.segments)) throw new TranscriptError(file, 'not an openai-whisper result: no "segments" array');
  const segments = (o.segments as Record<string, unknown>[]).map((s, i): Segment => {
    if (!s || typeof s !== 'object') throw new TranscriptError(file, `segments[${i}] is not an object`);
    requireText(s.text, file, `segments[${i}].text`);
    const seg: Segment = {
      id: typeof s.id === 'number' ? s.id : i,
      start: requireTime(s.start, file, `segments[${i}].start`),
      end: requireTime(s.end, file, `segments[${i}].end`),
      text: s.text as string,
    };
    if (num(s.avg_logprob) !== undefined) seg.avgLogprob = num(s.avg_logprob);
    if (num(s.no_speech_prob) !== undefined) seg.noSpeechProb = num(s.no_speech_prob);
    if (num(s.compression_ratio) !== undefined) seg.compressionRatio = num(s.compression_ratio);
    if (Array.isArray(s.words)) {
      seg.words = (s.words as Record<string, unknown>[]).map((w, j): Word => {
        const where = `segments[${i}].words[${j}]`;
        if (!w || typeof w !== 'object') throw new TranscriptError(file, `${where} is ${JSON.stringify(w)}, not an object`);
        const word: Word = { word: requireText(w.word, file, `${where}.word`), start: requireTime(w.start, file, `${where}.start`), end: requireTime(w.end, file, `${where}.end`) };
        if (num(w.probability) !== undefined) word.probability = num(w.probability);
        return word;
      });
    }
    return seg;
  });
  return { segments, language: typeof o.language === 'string' ? o.language : undefined, source: file };
}

export interface HfChunkOptions {
  /**
   * The end of the last chunk when the pipeline left it `null` (it does when the audio
   * ends mid-window): pass the recording's duration in seconds.
   */
  lastEndSeconds?: number;
}

/**
 * A Hugging Face `automatic-speech-recognition` pipeline result with
 * `return_timestamps=True`: `{text, chunks: [{timestamp: [start, end], text}]}`. Each
 * chunk becomes a segment.
 */
export function parseHfChunks(json: unknown, file = '<json>', options: HfChunkOptions = {}): Transcript {
  const o = json as { chunks?: unknown };
  if (!o || typeof o !== 'object' || !Array.isArray(o.chunks)) throw new TranscriptError(file, 'not a Hugging Face pipeline result: no "chunks" array');
  const chunks = o.chunks as { timestamp?: unknown; text?: unknown }[];
  const segments = chunks.map((c, i): Segment => {
    if (!Array.isArray(c?.timestamp) || c.timestamp.length !== 2) throw new TranscriptError(file, `chunks[${i}].timestamp is ${JSON.stringify(c?.timestamp)}, not [start, end]`);
    const text = requireText(c.text, file, `chunks[${i}].text`);
    let end = c.timestamp[1] as unknown;
    if (end === null) {
      if (i === chunks.length - 1 && options.lastEndSeconds !== undefined) end = options.lastEndSeconds;
      else throw new TranscriptError(file, `chunks[${i}].timestamp has no end (null)${i === chunks.length - 1 ? '; pass lastEndSeconds (the recording\'s duration)' : ''}`);
    }
    return { id: i, start: requireTime(c.timestamp[0], file, `chunks[${i}].timestamp[0]`), end: requireTime(end, file, `chunks[${i}].timestamp[1]`), text };
  });
  return { segments, source: file };
}

/** `HH:MM:SS,mmm` (SRT) or `[HH:]MM:SS.mmm` (VTT) in seconds. */
export function parseTimestamp(s: string): number | undefined {
  const m = /^(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})$/.exec(s.trim());
  if (!m) return undefined;
  return Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]!.padEnd(3, '0')) / 1000;
}

/** Parses SRT or VTT cues: blocks separated by blank lines, with a `start --> end` line. */
function parseCues(text: string, file: string, kind: 'SRT' | 'VTT'): Transcript {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  if (kind === 'VTT') {
    if (!/^WEBVTT/.test(lines[0] ?? '')) throw new TranscriptError(file, `line 1 is ${JSON.stringify(lines[0] ?? '')}, a VTT file starts with "WEBVTT"`);
  }
  const segments: Segment[] = [];
  let i = kind === 'VTT' ? 1 : 0;
  while (i < lines.length) {
    // A block: optional id line, the timing line, text lines until a blank line.
    while (i < lines.length && lines[i]!.trim() === '') i++;
    if (i >= lines.length) break;
    const blockStart = i;
    const block: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== '') block.push(lines[i++]!);
    const t = block.findIndex((l) => l.includes('-->'));
    if (t < 0) {
      // VTT allows NOTE, STYLE and REGION blocks; SRT has no block without timing.
      if (kind === 'VTT' && /^(NOTE|STYLE|REGION)\b/.test(block[0]!)) continue;
      throw new TranscriptError(file, `line ${blockStart + 1}: block without a "start --> end" line: ${JSON.stringify(block[0])}`);
    }
    const [a, rest] = block[t]!.split('-->') as [string, string];
    const start = parseTimestamp(a);
    const end = parseTimestamp(rest.trim().split(/\s+/)[0] ?? '');
    if (start === undefined || end === undefined) throw new TranscriptError(file, `line ${blockStart + t + 1}: cannot read timestamps in ${JSON.stringify(block[t])}`);
    // Drop markup: VTT voice/class tags and inline timestamps, SRT <i>/<b>/<font>.
    const body = requireText(block.slice(t + 1).join(' ').replace(/<[^>]*>/g, '').replace(/\s+/g, ' ').trim(), file, `line ${blockStart + t + 2}: cue text`);
    const idLine = t > 0 ? block[0]!.trim() : '';
    segments.push({ id: /^\d+$/.test(idLine) ? Number(idLine) : segments.length, start, end, text: body });
  }
  return { segments, source: file };
}

export const parseSrt = (text: string, file = '<srt>') => parseCues(text, file, 'SRT');
export const parseVtt = (text: string, file = '<vtt>') => parseCues(text, file, 'VTT');

/** Decodes UTF-8 strictly; the error names the file and the byte offset of the first bad byte. */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    // Find the offset for the message: decode growing prefixes is slow, so scan by hand.
    let i = 0;
    while (i < bytes.length) {
      const b = bytes[i]!;
      const len = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
      let ok = len > 0 && i + len <= bytes.length;
      for (let k = 1; ok && k < len; k++) ok = (bytes[i + k]! & 0xc0) === 0x80;
      if (ok && len > 1) ok = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(i, i + len)) !== '\ufffd';
      if (!ok) break;
      i += len;
    }
    throw new TranscriptError(file, `not UTF-8 text: invalid byte 0x${(bytes[i] ?? 0).toString(16).padStart(2, '0')} at offset ${i} (save the file as UTF-8)`);
  }
}

/**
 * Reads a transcript file by its extension: `.json` (openai-whisper result or Hugging
 * Face pipeline chunks, told apart by their keys), `.srt`, `.vtt`.
 */
export async function readTranscript(file: string, options: HfChunkOptions = {}): Promise<Transcript> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new TranscriptError(file, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const text = decodeUtf8(bytes, file);
  const ext = extname(file).toLowerCase();
  if (ext === '.srt') return parseSrt(text, file);
  if (ext === '.vtt') return parseVtt(text, file);
  if (ext === '.json') {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new TranscriptError(file, `not valid JSON (${(e as Error).message})`);
    }
    if (json && typeof json === 'object' && 'chunks' in json && !('segments' in json)) return parseHfChunks(json, file, options);
    return parseWhisperJson(json, file);
  }
  throw new TranscriptError(file, `unknown transcript format "${ext}" (expected .json, .srt or .vtt)`);
}
