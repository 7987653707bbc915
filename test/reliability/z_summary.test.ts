/**
 * Runs last (files run in name order): prints the figures every reliability test file of
 * this run recorded (kill points survived, fuzz cases, peak RSS ...), and with
 * RELIABILITY_WRITE_DOCS=1 writes them into docs/reliability.md between its markers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, readFigures } from './helpers/common';

test('reliability figures of this run', () => {
  const groups = readFigures();
  const lines = groups.flatMap((g) => g.figures.map((f) => `| ${f.name} | ${f.value}${f.unit ? ` ${f.unit}` : ''} | ${(f.detail ?? '').replace(/\|/g, '/')} |`));
  console.log(['', '== reliability figures ==', ...groups.flatMap((g) => g.figures.map((f) => `${f.name}: ${f.value}${f.unit ? ` ${f.unit}` : ''}${f.detail ? `  (${f.detail})` : ''}`))].join('\n'));
  if (groups.length === 0) {
    console.log('(no other reliability test file ran in this run)');
    return;
  }
  if (process.env.RELIABILITY_WRITE_DOCS) {
    const file = join(ROOT, 'docs', 'reliability.md');
    const doc = readFileSync(file, 'utf8');
    const begin = '<!-- figures:begin -->';
    const end = '<!-- figures:end -->';
    assert.ok(doc.includes(begin) && doc.includes(end), `${file} has no figures markers`);
    const table = ['| figure | value | detail |', '|---|---|---|', ...lines].join('\n');
    writeFileSync(file, `${doc.slice(0, doc.indexOf(begin) + begin.length)}\n${table}\n${doc.slice(doc.indexOf(end))}`);
  }
});
