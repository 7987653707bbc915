#!/usr/bin/env node
// Rebuilds the sample talk from talk.txt: talk.flac (flite's slt voice, at flite's own
// 16 kHz: nothing is upsampled) and transcript.json (openai-whisper JSON whose segment
// times are where each sentence was placed, so they are exact, not recognised).
//
// The transcript holds deliberate ASR-style misspellings of names (ASR_MISSPELLINGS
// below) for the correction step of notebook 02; corrections.json fixes most of them and
// glossary.json lets the glossary propose the rest.
//
// Usage: node datasets/sample-talk/make_talk.mjs [OUT_DIR]   (default: this folder)
// Needs flite (voice slt) and ffmpeg. The output is deterministic: the same flite and
// ffmpeg give the same bytes (ffmpeg runs with bitexact flags and no metadata).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = resolve(process.argv[2] ?? here);
const VOICE = 'slt';
// Silence placed around sentences. Whole samples at 16 kHz, so every time below is an
// exact multiple of 1/16000 s (a finite decimal).
const LEAD_SECONDS = 0.5;
const SENTENCE_PAUSE_SECONDS = 0.45;
const PARAGRAPH_PAUSE_SECONDS = 1.1;
// flite pads each utterance with near-silence; samples at or below this magnitude
// (16-bit units, about -54 dBFS) at either end are cut so segment times hug the speech.
const EDGE_THRESHOLD = 64;

/** How an ASR system might mishear the names (truth -> transcribed). */
export const ASR_MISSPELLINGS = [
  ['Kempelen', 'Kempelin'],
  ['Wheatstone', 'Wheat Stone'],
  ['Dudley', 'Dudly'],
  ['Umeda', 'Umeta'],
  ['DECtalk', 'deck talk'],
  ['Klatt', 'Klat'],
];

function readParagraphs(file) {
  const blocks = readFileSync(file, 'utf8').split(/\n\s*\n/);
  return blocks
    .map((b) => b.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')))
    .filter((p) => p.length > 0);
}

/** Mono 16-bit PCM samples and rate of a WAV file (the chunks flite writes). */
function readWav16(bytes, file) {
  if (bytes.toString('ascii', 0, 4) !== 'RIFF' || bytes.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${file}: not a WAV file`);
  let at = 12;
  let sampleRate = 0;
  while (at + 8 <= bytes.length) {
    const id = bytes.toString('ascii', at, at + 4);
    const len = bytes.readUInt32LE(at + 4);
    if (id === 'fmt ') {
      const format = bytes.readUInt16LE(at + 8);
      const channels = bytes.readUInt16LE(at + 10);
      sampleRate = bytes.readUInt32LE(at + 12);
      const bits = bytes.readUInt16LE(at + 22);
      if (format !== 1 || channels !== 1 || bits !== 16) throw new Error(`${file}: expected mono 16-bit PCM, got format ${format}, ${channels} channels, ${bits} bits`);
    } else if (id === 'data') {
      const data = bytes.subarray(at + 8, at + 8 + len);
      return { sampleRate, samples: new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)) };
    }
    at += 8 + len + (len % 2);
  }
  throw new Error(`${file}: no data chunk`);
}

function synthesise(text, tmp) {
  const wav = join(tmp, 'sentence.wav');
  execFileSync('flite', ['-voice', VOICE, '-t', text, '-o', wav]);
  const { sampleRate, samples } = readWav16(readFileSync(wav), wav);
  let a = 0;
  let b = samples.length;
  while (a < b && Math.abs(samples[a]) <= EDGE_THRESHOLD) a++;
  while (b > a && Math.abs(samples[b - 1]) <= EDGE_THRESHOLD) b--;
  if (a === b) throw new Error(`flite produced silence for: ${text}`);
  return { sampleRate, samples: samples.subarray(a, b) };
}

function misspell(text) {
  for (const [truth, heard] of ASR_MISSPELLINGS) text = text.replaceAll(truth, heard);
  return text;
}

function main() {
  const paragraphs = readParagraphs(join(here, 'talk.txt'));
  const tmp = mkdtempSync(join(tmpdir(), 'ttslab-talk-'));
  try {
    const pieces = [];
    const segments = [];
    let rate = 0;
    let at = 0; // samples written so far
    const silence = (seconds) => {
      const n = Math.round(seconds * rate);
      pieces.push(new Int16Array(n));
      at += n;
    };
    paragraphs.forEach((sentences, p) => {
      sentences.forEach((sentence, s) => {
        const { sampleRate, samples } = synthesise(sentence, tmp);
        if (rate === 0) {
          rate = sampleRate;
          silence(LEAD_SECONDS);
        } else if (sampleRate !== rate) throw new Error(`flite changed its rate from ${rate} to ${sampleRate} Hz`);
        if (segments.length > 0) silence(s === 0 ? PARAGRAPH_PAUSE_SECONDS : SENTENCE_PAUSE_SECONDS);
        segments.push({ id: segments.length, start: at / rate, end: (at + samples.length) / rate, text: ` ${misspell(sentence)}` });
        pieces.push(samples);
        at += samples.length;
        process.stderr.write(`\rparagraph ${p + 1}/${paragraphs.length}, ${segments.length} sentences, ${(at / rate).toFixed(1)} s`);
      });
    });
    silence(LEAD_SECONDS);
    process.stderr.write('\n');

    const pcm = Buffer.alloc(at * 2);
    let o = 0;
    for (const piece of pieces) for (const v of piece) o = pcm.writeInt16LE(v, o);
    mkdirSync(outDir, { recursive: true });
    execFileSync('ffmpeg', [
      '-nostdin', '-v', 'error', '-y', '-f', 's16le', '-ar', String(rate), '-ac', '1', '-i', 'pipe:0',
      '-c:a', 'flac', '-compression_level', '8', '-map_metadata', '-1', '-fflags', '+bitexact', '-flags:a', '+bitexact',
      join(outDir, 'talk.flac'),
    ], { input: pcm });
    const transcript = { text: segments.map((s) => s.text).join(''), segments, language: 'en' };
    writeFileSync(join(outDir, 'transcript.json'), JSON.stringify(transcript, null, 1) + '\n');
    console.log(`talk.flac: ${(at / rate).toFixed(2)} s at ${rate} Hz, ${segments.length} segments -> ${outDir}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main();
