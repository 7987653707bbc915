/**
 * The listening grid in the notebook: one row per prompt, one column per system; each cell
 * an audio player with its waveform, spectrogram, duration and metrics (blank where no
 * verifier measured them), and a summary of metric means per system under it.
 */
import { audioHtml } from '../notebook/audio';
import { display, escapeHtml, type MimeBundle } from '../notebook/display';
import { metricMeans, type ListeningCell, type ListeningComparison } from './listening';
import { spectrogramDb, spectrogramPng, waveformSvg, type SpectrogramOptions } from './spectrogram';

export interface GridOptions {
  /** Pixel width of the waveform and spectrogram images (default 200). */
  imageWidth?: number;
  /** Pixel height of the spectrogram (default 64; the waveform is 40). */
  spectrogramHeight?: number;
  spectrogram?: SpectrogramOptions;
  /** Digits after the point for metric values (default 3). */
  digits?: number;
}

const BLANK = '–';

function fmt(v: number | undefined, digits: number): string {
  return v === undefined ? BLANK : v.toFixed(digits);
}

function cellHtml(cell: ListeningCell, metricNames: string[], o: GridOptions): string {
  const width = o.imageWidth ?? 200;
  const { samples, sampleRate } = cell.audio;
  const wave = Buffer.from(waveformSvg(samples, { width, height: 40 })).toString('base64');
  const spec = spectrogramPng(spectrogramDb(samples, sampleRate, o.spectrogram), { width, height: o.spectrogramHeight ?? 64 }).toString('base64');
  const metrics = metricNames
    .map((n) => `<div class="ttslab-metric" data-metric="${escapeHtml(n)}">${escapeHtml(n)}: <b>${fmt(cell.metrics[n], o.digits ?? 3)}</b></div>`)
    .join('');
  const clipped = cell.clippedSamples > 0 ? `<div style="color:#b00">${cell.clippedSamples} samples clipped to ±1 in the WAV</div>` : '';
  return (
    `<td style="vertical-align:top;padding:4px 8px" data-system="${escapeHtml(cell.system)}">` +
    audioHtml(samples, sampleRate) +
    `<div class="ttslab-duration" style="font-size:12px">${cell.durationSeconds.toFixed(2)} s</div>` +
    `<img class="ttslab-waveform" alt="waveform" width="${width}" height="40" src="data:image/svg+xml;base64,${wave}"><br>` +
    `<img class="ttslab-spectrogram" alt="spectrogram" style="image-rendering:pixelated" src="data:image/png;base64,${spec}">` +
    `<div style="font-size:12px">${metrics}</div>${clipped}</td>`
  );
}

/** The grid as HTML: a table of prompts x systems, then the per-system metric means. */
export function listeningGridHtml(c: ListeningComparison, options: GridOptions = {}): string {
  const head = `<tr><th>#</th><th>text</th>${c.systems.map((s) => `<th>${escapeHtml(s.label)}</th>`).join('')}</tr>`;
  const body = c.rows
    .map((r) => {
      const cells = c.systems.map((s) => {
        const cell = r.cells[s.id];
        return cell ? cellHtml(cell, c.metricNames, options) : `<td class="ttslab-empty" data-system="${escapeHtml(s.id)}" style="color:#999;text-align:center">${BLANK}</td>`;
      });
      return `<tr><td style="vertical-align:top">${r.index}</td><td style="vertical-align:top;max-width:220px">${escapeHtml(r.text)}<br><span style="color:#666;font-size:12px">speaker ${r.speaker}</span></td>${cells.join('')}</tr>`;
    })
    .join('');
  const digits = options.digits ?? 3;
  const means = metricMeans(c);
  const summary = c.metricNames.length
    ? `<table class="ttslab-listening-summary" style="margin-top:8px"><tr><th>system</th><th>clips</th>${c.metricNames.map((n) => `<th>mean ${escapeHtml(n)}</th>`).join('')}</tr>` +
      means.map((m) => `<tr><td>${escapeHtml(m.label)}</td><td>${m.clips}</td>${c.metricNames.map((n) => `<td>${fmt(m.means[n], digits)}</td>`).join('')}</tr>`).join('') +
      `</table>`
    : '';
  return (
    `<div class="ttslab-listening"><table style="border-collapse:collapse">${head}${body}</table>${summary}` +
    `<div style="color:#666;font-size:12px">WAV files and manifest.json: ${escapeHtml(c.dir)}</div></div>`
  );
}

/** The grid as plain text (a terminal, or a notebook viewer without HTML). */
export function listeningGridText(c: ListeningComparison, options: GridOptions = {}): string {
  const digits = options.digits ?? 3;
  const lines = [`listening comparison: ${c.rows.length} prompts x ${c.systems.length} systems (files in ${c.dir})`];
  for (const r of c.rows) {
    lines.push(`[${r.index}] speaker ${r.speaker}: ${r.text}`);
    for (const s of c.systems) {
      const cell = r.cells[s.id];
      const metrics = c.metricNames.map((n) => `${n} ${fmt(cell?.metrics[n], digits)}`).join(', ');
      lines.push(`    ${s.label.padEnd(24)} ${cell ? `${cell.durationSeconds.toFixed(2)} s${metrics ? `, ${metrics}` : ''}` : BLANK}`);
    }
  }
  return lines.join('\n');
}

export function listeningGridBundle(c: ListeningComparison, options: GridOptions = {}): MimeBundle {
  return { 'text/html': listeningGridHtml(c, options), 'text/plain': listeningGridText(c, options) };
}

/** Shows the grid in the notebook (text in a terminal). */
export function showListeningGrid(c: ListeningComparison, options: GridOptions = {}): void {
  display(listeningGridBundle(c, options));
}
