import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The ttslab package version (from package.json). */
export const version: string = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')).version;
