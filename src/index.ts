/**
 * ttslab: the helper library behind the workshop notebooks.
 *
 * The public API, grouped by pipeline stage (see docs/architecture.md).
 */
export { version } from './version';
