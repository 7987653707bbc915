import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import {
  audioBundle,
  DisplayHandle,
  encodePng,
  figureToSvg,
  LivePlot,
  niceTicks,
  plotBundle,
  setDisplaySink,
  showAudio,
  showTable,
  tableBundle,
  type MimeBundle,
} from '../../src/notebook';
import { decodeWav } from '../../src/audio/wav';
import * as progressModule from '../../src/notebook/progress';

/** Captures everything shown while `fn` runs. */
function capture(fn: () => void): { bundle: MimeBundle; displayId?: string; update: boolean }[] {
  const out: { bundle: MimeBundle; displayId?: string; update: boolean }[] = [];
  setDisplaySink((bundle, o) => out.push({ bundle, ...o }));
  try {
    fn();
  } finally {
    setDisplaySink(null);
  }
  return out;
}

test('table: rows become an escaped HTML table and an aligned text table', () => {
  const b = tableBundle([{ name: '<b>x</b>', seconds: 1.23456789, n: 3 }, { name: 'y', extra: true }], { caption: 'T' });
  assert.match(b['text/html']!, /<th>name<\/th><th>seconds<\/th><th>n<\/th><th>extra<\/th>/);
  assert.ok(b['text/html']!.includes('&lt;b&gt;x&lt;/b&gt;'), 'cell text is escaped');
  assert.ok(!b['text/html']!.includes('<b>x</b>'));
  assert.ok(b['text/html']!.includes('<td class="num">1.235</td>'), 'numbers to 4 significant digits, right-aligned');
  const lines = b['text/plain']!.split('\n');
  assert.equal(lines[0], 'T');
  assert.match(lines[1]!, /^name\s+seconds\s+n\s+extra$/);
  assert.equal(lines[3], '<b>x</b>  1.235    3');
});

test('table: maxRows cuts and says how many rows are left out', () => {
  const rows = Array.from({ length: 7 }, (_, i) => ({ i }));
  const b = tableBundle(rows, { maxRows: 5 });
  assert.equal((b['text/html']!.match(/<tr>/g) ?? []).length, 1 + 5 + 1);
  assert.ok(b['text/html']!.includes('… 2 more rows'));
  assert.ok(b['text/plain']!.endsWith('... 2 more rows'));
});

test('table: accepts an Arquero table and keeps its column order', async () => {
  const aq = await import('arquero');
  const t = aq.table({ b: [2, 1], a: ['x', 'y'] });
  const b = tableBundle(t as never);
  assert.match(b['text/html']!, /<th>b<\/th><th>a<\/th>/);
  assert.ok(b['text/html']!.includes('<td>y</td>'));
});

test('table: showTable sends one display_data output', () => {
  const out = capture(() => showTable([{ a: 1 }]));
  assert.equal(out.length, 1);
  assert.equal(out[0]!.update, false);
  assert.ok(out[0]!.bundle['text/html']!.includes('<table'));
});

test('audio: the player embeds a WAV that decodes back to the samples', () => {
  const sr = 16000;
  const samples = Float32Array.from({ length: 1600 }, (_, i) => 0.5 * Math.sin(i / 5));
  const b = audioBundle(samples, sr, { title: 'tone' });
  const m = /src="data:audio\/wav;base64,([^"]+)"/.exec(b['text/html']!);
  assert.ok(m, 'an <audio> element with an inline WAV');
  const wav = decodeWav(Buffer.from(m[1]!, 'base64'));
  assert.equal(wav.sampleRate, sr);
  assert.equal(wav.channels[0]!.length, samples.length);
  let maxErr = 0;
  for (let i = 0; i < samples.length; i++) maxErr = Math.max(maxErr, Math.abs(wav.channels[0]![i]! - samples[i]!));
  assert.ok(maxErr < 1 / 16384, `16-bit PCM round trip error ${maxErr}`);
  assert.ok(b['text/html']!.includes('0.10 s'));
  assert.equal(b['text/plain'], '<audio "tone": 0.10 s at 16000 Hz>');
});

test('audio: clipping is reported, NaN and bad rates are rejected with the value', () => {
  const b = audioBundle(Float32Array.from([0, 1.5, -2, 0.5]), 8000);
  assert.ok(b['text/html']!.includes('2 samples clipped'));
  assert.throws(() => showAudio(Float32Array.from([0, Number.NaN]), 8000), /sample 1 of channel 0 is NaN/);
  assert.throws(() => showAudio(Float32Array.from([0]), 0), /sampleRate must be a positive integer \(Hz\), got 0/);
  assert.throws(() => showAudio(Float32Array.from([0])), /sampleRate \(Hz\) is required/);
});

test('plot: HTML holds a static SVG image and plotly.js JSON with {text} titles', () => {
  const b = plotBundle({
    data: [{ x: [1, 2, 3], y: Float32Array.from([3, 1, 2]), name: 'loss </script><b>' }],
    layout: { title: 'Loss', xaxis: { title: 'step' } },
  });
  const html = b['text/html']!;
  const img = /src="data:image\/svg\+xml;base64,([^"]+)"/.exec(html);
  assert.ok(img, 'static image inside the plot element');
  const svg = Buffer.from(img[1]!, 'base64').toString();
  assert.ok(svg.startsWith('<svg') && svg.includes('<path'), 'the static image draws the line');
  assert.ok(svg.includes('loss &lt;/script&gt;&lt;b&gt;'), 'legend text escaped in SVG');
  const script = html.slice(html.indexOf('<script'));
  assert.equal((script.match(/<\/script>/g) ?? []).length, 1, 'a trace name cannot close the script early');
  const json = /var fig=(\{.*?\});function draw/.exec(script)![1]!.replace(/<\\\//g, '</');
  const fig = JSON.parse(json);
  assert.deepEqual(fig.data[0].y, [3, 1, 2], 'typed arrays become plain arrays');
  assert.deepEqual(fig.layout.title, { text: 'Loss' });
  assert.deepEqual(fig.layout.xaxis.title, { text: 'step' });
  assert.equal(b['text/plain'], '<plot "Loss": scatter "loss </script><b>">');
});

test('plot: static image draws histograms, bars and heatmaps', () => {
  const hist = figureToSvg({ data: [{ type: 'histogram', x: [1, 1, 2, 3, 3, 3], nbinsx: 3 }] });
  assert.equal((hist.match(/<rect [^>]*fill-opacity/g) ?? []).length, 3, 'one bar per bin');
  const heat = figureToSvg({ data: [{ type: 'heatmap', z: [[0, 1], [2, 3]] }] });
  const png = /href="data:image\/png;base64,([^"]+)"/.exec(heat);
  assert.ok(png, 'heatmap embedded as PNG');
  assert.deepEqual([...Buffer.from(png[1]!, 'base64').subarray(1, 4)], [0x50, 0x4e, 0x47]);
});

test('png: IDAT inflates to filter byte + RGBA rows', () => {
  const rgba = Uint8Array.from([255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 9, 9, 9, 9]);
  const png = encodePng(2, 2, rgba);
  const idatAt = png.indexOf('IDAT');
  const len = png.readUInt32BE(idatAt - 4);
  const raw = inflateSync(png.subarray(idatAt + 4, idatAt + 4 + len));
  assert.deepEqual([...raw], [0, ...rgba.subarray(0, 8), 0, ...rgba.subarray(8)]);
  assert.throws(() => encodePng(2, 2, new Uint8Array(3)), /expected 16 bytes/);
});

test('niceTicks: 1-2-5 steps inside the range', () => {
  assert.deepEqual(niceTicks(0, 10), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(niceTicks(0.13, 0.58, 5), [0.2, 0.3, 0.4, 0.5]);
  assert.deepEqual(niceTicks(-1, 1, 4), [-1, -0.5, 0, 0.5, 1]);
});

test('DisplayHandle: first show adds an output, later ones update it in place', () => {
  const out = capture(() => {
    const h = new DisplayHandle();
    h.show({ 'text/plain': 'a' });
    h.show({ 'text/plain': 'b' });
  });
  assert.deepEqual(out.map((o) => o.update), [false, true]);
  assert.equal(out[0]!.displayId, out[1]!.displayId);
});

test('LivePlot: throttles redraws and flush shows the last state', () => {
  const out = capture(() => {
    const live = new LivePlot({ minIntervalMs: 60_000 });
    live.update({ data: [{ y: [1] }] });
    live.update({ data: [{ y: [1, 2] }] });
    live.update({ data: [{ y: [1, 2, 3] }] });
    live.flush();
  });
  // plotly.js itself once (a separate output), then the plot: shown, then flushed.
  const plots = out.filter((o) => o.bundle['text/html']!.includes('ttslab-plot'));
  assert.equal(plots.length, 2);
  assert.deepEqual(plots.map((o) => o.update), [false, true]);
  assert.ok(plots[1]!.bundle['text/html']!.includes('"y":[1,2,3]'));
  const lib = out.filter((o) => o.bundle['text/html']!.includes('window.Plotly = Plotly'));
  assert.ok(lib.length <= 1, 'plotly.js is sent at most once per kernel');
});

test('progress: notebook bar updates one output in place, with rate, ETA and postfix', async () => {
  const { ProgressBar } = progressModule;
  const out = capture(() => {
    const bar = new ProgressBar({ label: 'tokenizing', total: 4, minIntervalMs: 0, mode: 'notebook' });
    bar.tick();
    bar.tick(2, 'clip 3');
    bar.finish();
  });
  assert.equal(out.length, 3);
  assert.deepEqual(out.map((o) => o.update), [false, true, true]);
  assert.equal(new Set(out.map((o) => o.displayId)).size, 1);
  const last = out[2]!.bundle['text/plain']!;
  assert.match(last, /^tokenizing\s+75%\s+3\/4\s+0:00<0:00/);
  assert.match(last, /clip 3$/);
  assert.ok(out[2]!.bundle['text/html']!.includes('<progress value="75.0" max="100"'));
});

test('progress: byte counts and durations are human-readable', async () => {
  const { ProgressBar, fmtDuration } = progressModule;
  const bar = new ProgressBar({ label: 'download', total: 2_500_000, unit: 'bytes', mode: 'none' });
  bar.update(1_200_000);
  assert.match(bar.text(), /download\s+48%\s+1\.2 MB\/2\.5 MB/);
  assert.equal(fmtDuration(3723), '1:02:03');
  assert.equal(fmtDuration(65), '1:05');
});
