/**
 * Tables in notebooks: `showTable` renders rows (plain objects) or an Arquero table as
 * HTML with a text fallback.
 */
import { display, escapeHtml, type MimeBundle } from './display';

/** A cell value; numbers are formatted, everything else is shown as text. */
export type Cell = string | number | boolean | null | undefined | bigint | Date;
export type Row = Record<string, Cell | unknown>;

/** Anything with Arquero's `objects()` (a ColumnTable), or rows. */
export type TableLike = readonly object[] | { objects(options?: object): object[]; columnNames?(): string[] };

export interface TableOptions {
  /** Shown above the table. */
  caption?: string;
  /** Columns to show, in order (default: every key of every row, first-seen order). */
  columns?: string[];
  /** Rows shown before "... N more rows" (default 50). */
  maxRows?: number;
  /** Significant digits for non-integer numbers (default 4). */
  digits?: number;
  /**
   * Per-column CSS class for cells, e.g. `{status: (v) => v === 'missing' ? 'bad' : ''}`;
   * classes `ok`, `warn` and `bad` are coloured.
   */
  cellClass?: Record<string, (value: unknown, row: Row) => string>;
}

function toRows(data: TableLike): { rows: Row[]; columns?: string[] } {
  if (Array.isArray(data)) return { rows: data as unknown as Row[] };
  const t = data as { objects?: unknown; columnNames?: () => string[] };
  if (typeof t.objects === 'function') {
    return { rows: (t.objects as () => Row[])(), columns: t.columnNames?.() };
  }
  throw new TypeError('showTable: expected an array of row objects or an Arquero table');
}

/** Formats one cell for display. */
export function formatCell(v: unknown, digits = 4): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return String(v);
    if (!Number.isFinite(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(digits - 1);
    return String(Number(v.toPrecision(digits)));
  }
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

const TABLE_CSS =
  '.ttslab-table{border-collapse:collapse;font-size:12px;font-family:system-ui,sans-serif}' +
  '.ttslab-table th,.ttslab-table td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}' +
  '.ttslab-table th{background:#f3f3f3}.ttslab-table td.num{text-align:right;font-variant-numeric:tabular-nums}' +
  '.ttslab-table td.ok{color:#1a7f37}.ttslab-table td.warn{color:#9a6700}.ttslab-table td.bad{color:#cf222e;font-weight:600}' +
  '.ttslab-table caption{text-align:left;font-weight:600;padding:4px 0}';

/** Builds the MIME bundle of a table (HTML + aligned plain text). */
export function tableBundle(data: TableLike, options: TableOptions = {}): MimeBundle {
  const { rows, columns: tableColumns } = toRows(data);
  const maxRows = options.maxRows ?? 50;
  const digits = options.digits ?? 4;
  let columns = options.columns ?? tableColumns;
  if (!columns) {
    const seen = new Set<string>();
    for (const r of rows) for (const k of Object.keys(r)) seen.add(k);
    columns = [...seen];
  }
  const shown = rows.slice(0, maxRows);
  const more = rows.length - shown.length;

  const head = columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const body = shown
    .map((r) => {
      const tds = columns!.map((c) => {
        const v = r[c];
        const classes = [typeof v === 'number' ? 'num' : '', options.cellClass?.[c]?.(v, r) ?? ''].filter(Boolean);
        const cls = classes.length ? ` class="${classes.join(' ')}"` : '';
        return `<td${cls}>${escapeHtml(formatCell(v, digits))}</td>`;
      });
      return `<tr>${tds.join('')}</tr>`;
    })
    .join('');
  const caption = options.caption ? `<caption>${escapeHtml(options.caption)}</caption>` : '';
  const moreRow = more > 0 ? `<tr><td colspan="${columns.length}">… ${more} more rows</td></tr>` : '';
  const html = `<style>${TABLE_CSS}</style><table class="ttslab-table">${caption}<thead><tr>${head}</tr></thead><tbody>${body}${moreRow}</tbody></table>`;

  // Plain text: columns padded to their widest cell.
  const cells = shown.map((r) => columns!.map((c) => formatCell(r[c], digits).replace(/\s+/g, ' ')));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  const text = [
    ...(options.caption ? [options.caption] : []),
    line(columns),
    line(widths.map((w) => '-'.repeat(w))),
    ...cells.map(line),
    ...(more > 0 ? [`... ${more} more rows`] : []),
  ].join('\n');
  return { 'text/html': html, 'text/plain': text };
}

/** Shows rows or an Arquero table as a table in the notebook (text in a terminal). */
export function showTable(data: TableLike, options: TableOptions = {}): void {
  display(tableBundle(data, options));
}
