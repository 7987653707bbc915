/**
 * Long input: a 3-hour recording (flite speech looped by ffmpeg into a 32 kbit/s MP3 in a
 * temp folder) goes, in child processes whose peak RSS must be within 20 % of a 10-minute
 * recording's, through
 * - the stream path: download from a local HTTP server, streamed decode, Whisper's 30 s
 *   log-mel windows and chunking of a segment per 5 s;
 * - the transcription path: download, then transcribe() of the file with the tiny Whisper
 *   fixture on the wasm backend (CPU): two streamed passes over the file (the log-mel
 *   maximum, then each window's features), the real encoder and decoder on every 30 s
 *   window (at most TRANSCRIBE_MAX_NEW_TOKENS new tokens each: the encoder, ~1 s of CPU a
 *   window, is the cost), the transcript's segments chunked. It runs beside the stream path
 *   (CI has 2 cores) and is the longest part of the suite (about 6.5 min for 3 h).
 * The whole-file path (decodeAudioFile + extractFeatures of everything, what transcribe()
 * does for samples passed as an array) is measured for comparison with LONG_WHOLE=1: it
 * holds the whole recording, ~2.4 GiB for 3 h.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeAudioFile, decodeAudioWindows } from '../../src/audio/ffmpeg';
import { recordFigures, runTs } from './helpers/common';

const LONG_S = Number(process.env.LONG_SECONDS ?? 3 * 3600);
const SHORT_S = 600;
let dir: string;
let server: Server;
let base: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ttslab-rel-long-'));
  const speech = join(dir, 'speech.wav');
  execFileSync('flite', ['-t', 'This is a long recording. It goes on for hours, and every part of it must be handled with the same memory.', '-o', speech]);
  for (const [name, s] of [['short', SHORT_S], ['long', LONG_S]] as const) {
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-stream_loop', '-1', '-i', speech, '-t', String(s), '-c:a', 'libmp3lame', '-b:a', '32k', join(dir, `${name}.mp3`)]);
  }
  server = createServer((req, res) => {
    const f = join(dir, (req.url ?? '/').slice(1));
    const size = statSync(f).size;
    res.writeHead(200, { 'content-length': size, 'content-type': 'audio/mpeg' });
    createReadStream(f).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * New tokens per window on the transcription path. With at most 3, a window never ends in a
 * timestamp pair (the first token is a timestamp and the second must be text), so decoding
 * moves on by whole 30 s windows: exactly one encoder pass per 30 s of audio.
 */
const TRANSCRIBE_MAX_NEW_TOKENS = 3;

interface Run {
  mode: string; bytes: number; seconds: number; windows: number; melFrames: number; clips: number; maxRssMiB: number; downloadS: number; processS: number;
  /** transcribe mode: the transcript's segments, those with text, the last end (s), the decoding bound. */
  segments: number; textSegments: number; lastEnd: number; maxNewTokens: number;
}

async function measure(mode: string, name: string, timeoutMs = 590_000): Promise<Run> {
  const r = await runTs('test/reliability/children/long_child.ts', [mode, `${base}/${name}.mp3`, join(dir, `${name}-${mode}-dl.mp3`)],
    { LONG_MAX_NEW_TOKENS: String(TRANSCRIBE_MAX_NEW_TOKENS) }, { timeoutMs });
  assert.equal(r.code, 0, `${mode} ${name}: exit ${r.code} ${r.signal ?? ''}\n${r.stderr}`);
  rmSync(join(dir, `${name}-${mode}-dl.mp3`), { force: true });
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Run;
}

/** The transcription path's runs, started with the stream path's (they share CI's 2 cores). */
let transcriptionRuns: Promise<[Run, Run]> | undefined;
function startTranscriptionRuns(): Promise<[Run, Run]> {
  if (!transcriptionRuns) {
    transcriptionRuns = (async (): Promise<[Run, Run]> => {
      const short = await measure('transcribe', 'short');
      return [short, await measure('transcribe', 'long', 1_500_000)];
    })();
    transcriptionRuns.catch(() => {}); // awaited (and reported) by the transcription test
  }
  return transcriptionRuns;
}

test('3 h of audio: download, streamed decode, 30 s Whisper windows and chunking within 20 % of the peak RSS of 10 min', { timeout: 900_000 }, async () => {
  startTranscriptionRuns();
  const short = await measure('stream', 'short');
  const long = await measure('stream', 'long');
  for (const [r, s] of [[short, SHORT_S], [long, LONG_S]] as const) {
    assert.ok(Math.abs(r.seconds - s) < 1, `${r.seconds} s decoded of ${s}`);
    assert.equal(r.windows, Math.ceil(s / 30));
    assert.equal(r.melFrames, r.windows * 3000);
    assert.ok(r.clips > s / 25, `${r.clips} clips`);
  }
  const ratio = long.maxRssMiB / short.maxRssMiB;
  const figures = [
    { name: 'peak RSS, 10 min recording (stream path)', value: +short.maxRssMiB.toFixed(1), unit: 'MiB', detail: `${(short.bytes / 2 ** 20).toFixed(1)} MiB MP3; ${short.windows} windows; ${short.clips} clips; download ${short.downloadS.toFixed(1)} s, decode+features+chunk ${short.processS.toFixed(1)} s` },
    { name: 'peak RSS, 3 h recording (stream path)', value: +long.maxRssMiB.toFixed(1), unit: 'MiB', detail: `${(long.bytes / 2 ** 20).toFixed(1)} MiB MP3; ${long.windows} windows; ${long.clips} clips; download ${long.downloadS.toFixed(1)} s, decode+features+chunk ${long.processS.toFixed(1)} s; ratio ${ratio.toFixed(3)}` },
  ];
  if (process.env.LONG_WHOLE) {
    for (const name of ['short', 'long']) {
      const w = await measure('whole', name);
      figures.push({ name: `peak RSS, ${name === 'short' ? '10 min' : '3 h'} recording (whole-file decodeAudioFile + extractFeatures, as transcribe() does for samples in an array)`, value: +w.maxRssMiB.toFixed(1), unit: 'MiB', detail: `${w.processS.toFixed(1)} s` });
    }
  }
  recordFigures('long-input', figures);
  assert.ok(ratio <= 1.2, `peak RSS 3 h ${long.maxRssMiB.toFixed(1)} MiB vs 10 min ${short.maxRssMiB.toFixed(1)} MiB: ratio ${ratio.toFixed(3)} > 1.2`);
});

test('3 h of audio through transcribe() (tiny Whisper on CPU, features streamed from the file, every window encoded and decoded) within 20 % of the peak RSS of 10 min', { timeout: 1_800_000 }, async () => {
  const [short, long] = await startTranscriptionRuns();
  for (const [r, s] of [[short, SHORT_S], [long, LONG_S]] as const) {
    // Each window moves decoding on by at most 3000 mel frames; with TRANSCRIBE_MAX_NEW_TOKENS <= 3 by exactly 3000.
    if (TRANSCRIBE_MAX_NEW_TOKENS <= 3) assert.equal(r.windows, Math.ceil(s / 30), `${s} s: encoder passes`);
    else assert.ok(r.windows >= Math.ceil(s / 30), `${s} s: ${r.windows} encoder passes`);
    assert.equal(r.melFrames, r.windows * 3000);
    assert.equal(r.maxNewTokens, TRANSCRIBE_MAX_NEW_TOKENS);
    assert.ok(r.lastEnd <= s + 1, `a segment ends at ${r.lastEnd} s of ${s}`);
  }
  const ratio = long.maxRssMiB / short.maxRssMiB;
  const detail = (r: Run) => `${r.windows} windows through the encoder and decoder (greedy, <= ${r.maxNewTokens} new tokens each); ${r.segments} segments (${r.textSegments} with text), ${r.clips} clips; download ${r.downloadS.toFixed(1)} s, transcribe+chunk ${r.processS.toFixed(1)} s`;
  recordFigures('long-input-transcribe', [
    { name: 'peak RSS, 10 min recording (transcription path)', value: +short.maxRssMiB.toFixed(1), unit: 'MiB', detail: detail(short) },
    { name: 'peak RSS, 3 h recording (transcription path)', value: +long.maxRssMiB.toFixed(1), unit: 'MiB', detail: `${detail(long)}; ratio ${ratio.toFixed(3)}` },
  ]);
  assert.ok(ratio <= 1.2, `transcription path: peak RSS 3 h ${long.maxRssMiB.toFixed(1)} MiB vs 10 min ${short.maxRssMiB.toFixed(1)} MiB: ratio ${ratio.toFixed(3)} > 1.2`);
});

test('decodeAudioWindows gives exactly the samples of decodeAudioFile, window by window, with and without resampling', async () => {
  const stereo = join(dir, 'stereo.flac');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100:duration=3.3', '-f', 'lavfi', '-i', 'anoisesrc=r=44100:d=3.3:a=0.1', '-filter_complex', '[0][1]amerge=inputs=2', '-c:a', 'flac', stereo]);
  for (const [file, rate, seconds] of [[stereo, 16000, 1], [stereo, 44100, 0.7], [stereo, 22050, 30], [join(dir, 'short.mp3'), 16000, 7]] as const) {
    const whole = (await decodeAudioFile(file, { sampleRate: rate })).channels[0]!;
    const got = new Float32Array(whole.length + 16);
    let n = 0;
    let windows = 0;
    for await (const w of decodeAudioWindows(file, { sampleRate: rate, windowSeconds: seconds })) {
      assert.equal(w.offset, n);
      got.set(w.samples, n);
      n += w.samples.length;
      windows++;
    }
    assert.equal(n, whole.length, `${file} at ${rate} Hz`);
    assert.equal(windows, Math.ceil(whole.length / Math.round(seconds * rate)) || 1);
    for (let i = 0; i < n; i++) if (got[i] !== whole[i]) assert.fail(`${file} at ${rate} Hz: sample ${i} is ${got[i]}, whole-file decode gives ${whole[i]}`);
  }
  const cut = join(dir, 'cut.mp3');
  execFileSync('sh', ['-c', `head -c 300000 ${join(dir, 'short.mp3')} > ${cut}`]);
  await assert.rejects(async () => {
    for await (const _ of decodeAudioWindows(cut, { sampleRate: 16000 })) void _;
  }, /cut\.mp3: truncated/);
});
