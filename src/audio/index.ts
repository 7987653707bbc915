/** Audio: WAV I/O, decoding any format through ffmpeg, resampling, loudness, trimming, slicing. */
export { encodeWav, decodeWav, parseWavHeader, durationSeconds, type AudioData, type EncodeWavOptions, type EncodeReport, type WavHeader } from './wav';
export { AudioFileError, decodeAudioFile, decodeAudioWindows, findFfmpegTool, probeAudio, type AudioInfo, type AudioWindow, type DecodeOptions, type DecodedAudio, type WindowOptions } from './ffmpeg';
export { resample, resampledLength, resampleHalfWidth, kaiserBeta, type ResampleOptions } from './resample';
export { integratedLoudness, normalizeLoudness, peakDb, type NormalizeOptions, type NormalizeResult } from './loudness';
export { trimSilence, assertNotSilent, frameLevelsDb, SilenceError, type SilenceOptions, type TrimResult } from './trim';
export { toMono, sliceSeconds, secondsToSamples, concatAudio } from './slice';
export { writeAtomically, writeFileAtomic, tempPathFor, FileWriteError } from './files';
