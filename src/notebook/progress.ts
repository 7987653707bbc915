/**
 * Progress bars for long work (downloads, tokenization, training): an HTML bar updated in
 * place in a notebook, a line redrawn with `\r` on a terminal's stderr, nothing when
 * stderr is not a terminal and no notebook is attached (logs stay clean).
 */
import { DisplayHandle, escapeHtml, inNotebook } from './display';

export interface ProgressOptions {
  /** What is being done, e.g. "tokenizing clips". */
  label: string;
  /** Units of work in all, when known. */
  total?: number;
  /** How counts are shown: plain numbers (default) or bytes (KB, MB, ...). */
  unit?: 'items' | 'bytes' | string;
  /** Minimum milliseconds between redraws (default 250). */
  minIntervalMs?: number;
  /** Force a sink: 'notebook', 'terminal' or 'none' (default: detected). */
  mode?: 'notebook' | 'terminal' | 'none';
}

function fmtCount(n: number, unit: string): string {
  if (unit === 'bytes') {
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) {
      n /= 1000;
      i++;
    }
    return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
  }
  const s = Number.isInteger(n) ? String(n) : n.toFixed(1);
  return unit === 'items' ? s : `${s} ${unit}`;
}

/** Seconds as `1:02:03` / `2:03`. */
export function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export class ProgressBar {
  private done = 0;
  private readonly start = Date.now();
  private lastDraw = 0;
  private postfix = '';
  private finished = false;
  private readonly mode: 'notebook' | 'terminal' | 'none';
  private readonly handle = new DisplayHandle();

  constructor(private readonly options: ProgressOptions) {
    this.mode = options.mode ?? (inNotebook() ? 'notebook' : process.stderr.isTTY ? 'terminal' : 'none');
  }

  /** Units done so far. */
  get value(): number {
    return this.done;
  }

  /** Adds `n` units; `postfix` (e.g. "loss 4.21") is shown after the counts. */
  tick(n = 1, postfix?: string): void {
    this.update(this.done + n, postfix);
  }

  /** Sets the units done. */
  update(done: number, postfix?: string): void {
    this.done = done;
    if (postfix !== undefined) this.postfix = postfix;
    const now = Date.now();
    if (now - this.lastDraw >= (this.options.minIntervalMs ?? 250)) this.draw(now);
  }

  /** Draws the final state (call once, also after a failure, with a note). */
  finish(note?: string): void {
    if (this.finished) return;
    this.finished = true;
    if (note !== undefined) this.postfix = note;
    this.draw(Date.now(), true);
  }

  /** The current line, as the terminal shows it. */
  text(now = Date.now()): string {
    const { total, label } = this.options;
    const unit = this.options.unit ?? 'items';
    const elapsed = (now - this.start) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const parts = [label];
    if (total !== undefined && total > 0) {
      const frac = Math.min(1, this.done / total);
      parts.push(`${(frac * 100).toFixed(0).padStart(3)}%`, `${fmtCount(this.done, unit)}/${fmtCount(total, unit)}`);
      const eta = rate > 0 ? (total - this.done) / rate : Number.NaN;
      parts.push(`${fmtDuration(elapsed)}<${this.finished ? '0:00' : fmtDuration(eta)}`);
    } else {
      parts.push(fmtCount(this.done, unit), fmtDuration(elapsed));
    }
    if (rate > 0) parts.push(`${fmtCount(Number(rate.toPrecision(3)), unit)}/s`);
    if (this.postfix) parts.push(this.postfix);
    return parts.join('  ');
  }

  private draw(now: number, final = false): void {
    this.lastDraw = now;
    if (this.mode === 'none') return;
    const line = this.text(now);
    if (this.mode === 'terminal') {
      process.stderr.write(`\r${line.padEnd(100)}${final ? '\n' : ''}`);
      return;
    }
    const total = this.options.total;
    const pct = total ? Math.min(100, (100 * this.done) / total) : final ? 100 : 0;
    const html =
      `<div class="ttslab-progress" style="font:12px system-ui,sans-serif">` +
      `<progress value="${pct.toFixed(1)}" max="100" style="width:260px;vertical-align:middle"></progress> ` +
      `<span>${escapeHtml(line)}</span></div>`;
    this.handle.show({ 'text/html': html, 'text/plain': line });
  }
}

/** Runs `fn` for each item with a progress bar; the bar shows a failure as it happens. */
export async function withProgress<T, R>(label: string, items: readonly T[], fn: (item: T, index: number) => Promise<R> | R): Promise<R[]> {
  const bar = new ProgressBar({ label, total: items.length });
  const out: R[] = [];
  try {
    for (let i = 0; i < items.length; i++) {
      out.push(await fn(items[i]!, i));
      bar.tick();
    }
    bar.finish();
    return out;
  } catch (e) {
    bar.finish(`failed at item ${out.length + 1}: ${(e as Error).message}`);
    throw e;
  }
}
