/**
 * ttslab: the helper library behind the workshop notebooks.
 *
 * The public API, grouped by pipeline stage (see docs/architecture.md).
 */
export { version } from './version';

// Notebook display: tables, audio players, plots (00_setup onwards).
export * from './notebook';

// Environment check (00_setup).
export * from './env';

// Audio I/O.
export { encodeWav, decodeWav, durationSeconds, type AudioData } from './audio/wav';
