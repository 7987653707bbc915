/**
 * Rich display in a Jupyter notebook (tslab kernel), with a plain-text fallback in a
 * terminal.
 *
 * tslab's public `display` API sends one MIME type per output. Plots and audio need a
 * bundle (an interactive `text/html` plus a `text/plain` fallback), and live plots
 * need `update_display_data`, so this module talks to the writer tslab installs for
 * the cell being executed (`tslab/dist/jupyter`'s `lastWriteDisplayData`). The kernel
 * registered by `npm run kernel` runs the tslab pinned in this package, so both sides
 * load the same module instance.
 */
import { randomBytes } from 'node:crypto';

/** MIME type -> content (text, or base64 for binary types), as in a Jupyter output. */
export type MimeBundle = Record<string, string>;

/** Receives every output; set by the kernel bridge, a test, or another host. */
export type DisplaySink = (bundle: MimeBundle, options: { displayId?: string; update: boolean }) => void;

let customSink: DisplaySink | null = null;

/** Routes all outputs to `sink` (tests, other hosts); `null` restores the default. */
export function setDisplaySink(sink: DisplaySink | null): void {
  customSink = sink;
}

type TslabWriter = (data: { data: MimeBundle; metadata: object; transient: { display_id?: string } }, update: boolean) => void;

function tslabWriter(): TslabWriter | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const jupyter = require('tslab/dist/jupyter') as { lastWriteDisplayData: TslabWriter | null };
    return jupyter.lastWriteDisplayData ?? null;
  } catch {
    return null;
  }
}

/** True when running inside a Jupyter kernel that can show rich outputs. */
export function inNotebook(): boolean {
  return customSink !== null || tslabWriter() !== null;
}

/**
 * Shows a MIME bundle. With `displayId`, a later call with `update: true` and the same
 * id replaces the output in place instead of adding a new one.
 */
export function display(bundle: MimeBundle, options: { displayId?: string; update?: boolean } = {}): void {
  const update = options.update ?? false;
  if (customSink) {
    customSink(bundle, { displayId: options.displayId, update });
    return;
  }
  const writer = tslabWriter();
  if (writer) {
    writer({ data: bundle, metadata: {}, transient: options.displayId ? { display_id: options.displayId } : {} }, update);
    return;
  }
  // Terminal: only the text form makes sense, and updates of a live output would
  // scroll the terminal, so they are printed too (callers throttle them).
  const text = bundle['text/plain'];
  if (text !== undefined) process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}

/**
 * One output that can be replaced in place (live plots, progress). The first `show`
 * creates it, later calls update it.
 */
export class DisplayHandle {
  readonly id: string;
  private shown = false;

  constructor(id?: string) {
    this.id = id ?? `ttslab-${randomBytes(8).toString('hex')}`;
  }

  show(bundle: MimeBundle): void {
    display(bundle, { displayId: this.id, update: this.shown });
    this.shown = true;
  }
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
