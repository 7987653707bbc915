/**
 * Long-input child: `long_child.ts <mode> <url> <dest>`; prints one JSON line with its peak
 * RSS (process.resourceUsage().maxRSS) and what it processed.
 *
 * mode "stream": the bounded path. downloadFile (HTTP, to disk) -> decodeAudioWindows
 * (ffmpeg, 16 kHz mono, 30 s windows) -> Whisper's log-mel features of each 30 s window
 * (extractFeatures, 80 bins: the input of one encoder pass) -> a transcript segment per 5 s
 * (the text is synthetic: no ASR model runs) -> chunkSegments into training clips.
 *
 * mode "transcribe": the transcription path. downloadFile -> transcribe() of the file (it
 * streams the file twice with decodeAudioWindows: the log-mel maximum over the whole
 * recording, then the features of each window as decoding reaches it) with the tiny random
 * Whisper of test/fixtures/whisper on the wasm backend (CPU), greedy, at most
 * LONG_MAX_NEW_TOKENS (default 3) new tokens per window: the real encoder and decoder run on
 * every window -> the transcript's segments through parseWhisperJson and chunkSegments.
 * Encoder passes are counted (one per window).
 *
 * mode "whole": what transcribe() did before it streamed files (and still does for samples
 * given as an array): decodeAudioFile of the whole file at 16 kHz, then extractFeatures of it all.
 */
import { downloadFile } from '../../../src/data/download';
import { decodeAudioFile, decodeAudioWindows } from '../../../src/audio/ffmpeg';
import { extractFeatures } from '../../../src/models/whisper/feature_extraction';
import { chunkSegments } from '../../../src/data/chunk';
import type { Segment } from '../../../src/transcript/types';
import { parseWhisperJson } from '../../../src/transcript/read';
import { join } from 'node:path';
import type * as Tf from '@tensorflow/tfjs';
import type * as Modeling from '../../../src/models/whisper/modeling';
import type * as Transcribe from '../../../src/models/whisper/transcribe';
import type * as Tokenizer from '../../../src/tokenizer/tokenizer';

const WHISPER_FIXTURE = join(__dirname, '..', '..', 'fixtures', 'whisper');

async function main(mode: string, url: string, dest: string): Promise<void> {
  const t0 = performance.now();
  const dl = await downloadFile(url, dest, { progress: false });
  const tDownload = performance.now();
  let seconds = 0;
  let windows = 0;
  let melFrames = 0;
  let clips = 0;
  let segments = 0;
  let textSegments = 0;
  let maxNewTokens = 0;
  let lastEnd = 0;
  if (mode === 'transcribe') {
    maxNewTokens = Number(process.env.LONG_MAX_NEW_TOKENS ?? 3);
    // Loaded here only: the other modes' peak RSS does not count TensorFlow.js and the model code.
    const tf = require('@tensorflow/tfjs') as typeof Tf;
    require('@tensorflow/tfjs-backend-wasm');
    const { WhisperForConditionalGeneration } = require('../../../src/models/whisper/modeling') as typeof Modeling;
    const { transcribe } = require('../../../src/models/whisper/transcribe') as typeof Transcribe;
    const { TextTokenizer } = require('../../../src/tokenizer/tokenizer') as typeof Tokenizer;
    await tf.setBackend('wasm');
    await tf.ready();
    const model = await WhisperForConditionalGeneration.fromPretrained(WHISPER_FIXTURE);
    const tokenizer = await TextTokenizer.fromDir(WHISPER_FIXTURE);
    // Count the encoder passes: one per 30 s window of features that decoding reads.
    const encode = model.encode.bind(model);
    model.encode = (features) => {
      windows++;
      melFrames += features.shape[2];
      return encode(features);
    };
    const warn = console.warn;
    console.warn = () => {}; // the random model's "no speech was recognised", when it says so
    let result;
    try {
      result = await transcribe(dest, {
        model, tokenizer, language: 'en', temperature: [0], compressionRatioThreshold: null, logprobThreshold: null,
        noSpeechThreshold: null, conditionOnPreviousText: false, maxNewTokens, progress: 'none',
      });
    } finally {
      console.warn = warn;
      model.dispose();
    }
    const transcript = parseWhisperJson(result, dest);
    segments = transcript.segments.length;
    textSegments = transcript.segments.filter((x) => x.text.trim() !== '').length;
    lastEnd = transcript.segments.reduce((a, x) => Math.max(a, x.end), 0);
    clips = chunkSegments(transcript.segments, { maxSeconds: 20 }).clips.length;
  } else if (mode === 'stream') {
    const segments: Segment[] = [];
    for await (const w of decodeAudioWindows(dest, { sampleRate: 16000, windowSeconds: 30 })) {
      const mel = extractFeatures(w.samples, 80);
      melFrames += mel.nFrames;
      windows++;
      const len = w.samples.length / 16000;
      for (let s = 0; s + 1 <= len; s += 5) {
        segments.push({ id: segments.length, start: w.startSeconds + s, end: w.startSeconds + Math.min(len, s + 5), text: `Segment ${segments.length} of the recording.` });
      }
      seconds += len;
    }
    clips = chunkSegments(segments, { maxSeconds: 20 }).clips.length;
  } else {
    const a = await decodeAudioFile(dest, { sampleRate: 16000 });
    seconds = a.channels[0]!.length / 16000;
    const mel = extractFeatures(a.channels[0]!, 80);
    melFrames = mel.nFrames;
  }
  const maxRssMiB = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({
    mode, bytes: dl.bytes, seconds, windows, melFrames, clips, segments, textSegments, lastEnd, maxNewTokens, maxRssMiB,
    downloadS: (tDownload - t0) / 1000, processS: (performance.now() - tDownload) / 1000,
  }));
}

main(process.argv[2]!, process.argv[3]!, process.argv[4]!).catch((e) => {
  console.error(e);
  process.exit(1);
});
