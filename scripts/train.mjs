#!/usr/bin/env node
// `npm run train -- --config run.json` (or `ttslab train --config run.json`): the LoRA
// training loop in a terminal, from the built library (dist/). See src/train/cli.ts for
// the run file's fields.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { main } = require('../dist/train/cli.js');
main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
