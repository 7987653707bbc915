#!/usr/bin/env node
// `npm run train -- --model <model> --data <work folder> [--<TrainConfig flag> ...]` or
// `-- --config run.json`: the LoRA training loop in a terminal, from the built library
// (dist/), through the same calls notebook 05 makes. See src/train/cli.ts.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { main } = require('../dist/train/cli.js');
main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
