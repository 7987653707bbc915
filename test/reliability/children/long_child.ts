/**
 * Long-input child: `long_child.ts <mode> <url> <dest>`; prints one JSON line with its peak
 * RSS (process.resourceUsage().maxRSS) and what it processed.
 *
 * mode "stream": the bounded path. downloadFile (HTTP, to disk) -> decodeAudioWindows
 * (ffmpeg, 16 kHz mono, 30 s windows) -> Whisper's log-mel features of each 30 s window
 * (extractFeatures, 80 bins: the input of one encoder pass) -> a transcript segment per 5 s
 * (the text is synthetic: no ASR model runs) -> chunkSegments into training clips.
 *
 * mode "whole": what transcribe() in src/models/whisper/transcribe.ts does before its
 * windowing: decodeAudioFile of the whole file at 16 kHz, then extractFeatures of it all.
 */
import { downloadFile } from '../../../src/data/download';
import { decodeAudioFile, decodeAudioWindows } from '../../../src/audio/ffmpeg';
import { extractFeatures } from '../../../src/models/whisper/feature_extraction';
import { chunkSegments } from '../../../src/data/chunk';
import type { Segment } from '../../../src/transcript/types';

async function main(mode: string, url: string, dest: string): Promise<void> {
  const t0 = performance.now();
  const dl = await downloadFile(url, dest, { progress: false });
  const tDownload = performance.now();
  let seconds = 0;
  let windows = 0;
  let melFrames = 0;
  let clips = 0;
  if (mode === 'stream') {
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
    mode, bytes: dl.bytes, seconds, windows, melFrames, clips, maxRssMiB,
    downloadS: (tDownload - t0) / 1000, processS: (performance.now() - tDownload) / 1000,
  }));
}

main(process.argv[2]!, process.argv[3]!, process.argv[4]!).catch((e) => {
  console.error(e);
  process.exit(1);
});
