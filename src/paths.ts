import { join } from 'node:path';

/** The project root: the folder holding package.json (dist/ and src/ both sit one level below). */
export const PROJECT_ROOT = join(__dirname, '..');
