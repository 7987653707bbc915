// LivePlot's refresh policy: first update at once, then at most one per interval, the
// final state always (flush), an unchanged figure never sent twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { LivePlot, setDisplaySink, type MimeBundle } from '../../src/notebook';
import { TrainingPlot } from '../../src/train/metrics';

type Shown = { bundle: MimeBundle; displayId?: string; update: boolean };

async function capture(fn: () => Promise<void> | void): Promise<Shown[]> {
  const out: Shown[] = [];
  setDisplaySink((bundle, o) => out.push({ bundle, ...o }));
  try {
    await fn();
  } finally {
    setDisplaySink(null);
  }
  return out.filter((o) => o.bundle['text/html']?.includes('ttslab-plot'));
}

test('LivePlot: redraws once per interval while updates keep coming, in one output', async () => {
  let live!: LivePlot;
  const shown = await capture(async () => {
    live = new LivePlot({ minIntervalMs: 40 });
    // 12 updates 15 ms apart (~180 ms): the first draws, then one about every 40 ms.
    for (let i = 1; i <= 12; i++) {
      live.update({ data: [{ y: Array.from({ length: i }, (_, k) => k) }] });
      await sleep(15);
    }
    live.flush();
  });
  assert.ok(shown.length >= 3 && shown.length < 12, `${shown.length} renders for 12 updates at a 40 ms interval`);
  assert.equal(live.renders, shown.length);
  assert.equal(new Set(shown.map((o) => o.displayId)).size, 1, 'one output, updated in place');
  assert.deepEqual(shown.map((o) => o.update), [false, ...shown.slice(1).map(() => true)]);
  assert.ok(shown.at(-1)!.bundle['text/html']!.includes('"y":[0,1,2,3,4,5,6,7,8,9,10,11]'), 'the final state is shown');
});

test('LivePlot: an unchanged figure is not sent again, a forced changed one is', async () => {
  const fig = { data: [{ y: [1, 2] }] };
  let live!: LivePlot;
  const shown = await capture(() => {
    live = new LivePlot({ minIntervalMs: 0 });
    live.update(fig);
    live.update({ data: [{ y: [1, 2] }] }, true);
    live.flush();
    live.update({ data: [{ y: [1, 2, 3] }] }, true);
  });
  assert.equal(shown.length, 2);
  assert.equal(live.renders, 2);
  assert.throws(() => new LivePlot({ minIntervalMs: -1 }), /minIntervalMs must be a number >= 0, got -1/);
});

test('TrainingPlot.flush after the last step draws the final curve once', async () => {
  const shown = await capture(() => {
    const plot = new TrainingPlot('t', 60_000);
    for (let step = 1; step <= 5; step++) {
      plot.add({ step, epoch: 0, loss: 1 / step, lr: 1e-3, grad_norm: 1, tokens: 10, tokens_per_s: 1, elapsed_s: step, num_tensors: 0, tensor_bytes: 0 });
      plot.update();
    }
    plot.flush();
  });
  // Step 1 at once, steps 2-5 throttled, then the final state; TrainingPlot.flush's forced redraw of the same figure is skipped.
  assert.equal(shown.length, 2);
  assert.ok(shown[1]!.bundle['text/html']!.includes('"x":[1,2,3,4,5]'));
});
