// Makes `import ... from 'ttslab'` resolve inside this checkout (notebooks, tests, scripts).
//
// tslab compiles notebook cells as CommonJS with the notebook's folder as root, so a
// relative `../src` import cannot work; a package name resolved through node_modules
// can. npm removes links it did not create on every `npm ci`/`npm install`, which is
// why this runs from the `prepare` lifecycle script rather than once by hand.
import { lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const link = join(root, 'node_modules', 'ttslab');
const target = '..'; // relative, so moving the checkout keeps the link valid

mkdirSync(join(root, 'node_modules'), { recursive: true });
let ok = false;
try {
  const st = lstatSync(link);
  if (st.isSymbolicLink() && readlinkSync(link) === target) ok = true;
  else rmSync(link, { recursive: true, force: true });
} catch {
  // no link yet
}
if (!ok) symlinkSync(target, link, 'dir');
