/**
 * Crash-safety child: replaces the folder argv[2]/adapter with version argv[3] (two files
 * whose contents name the version) through writeDirAtomic, the way the trainer writes its
 * final adapter, under the kill point of helpers/killpoint.ts.
 */
import { installKillHook } from '../helpers/killpoint';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeDirAtomic } from '../../../src/train/checkpoint';
import { adapterFiles } from '../helpers/adapter_versions';


async function main(outputDir: string, v: string): Promise<void> {
  installKillHook();
  await writeDirAtomic(join(outputDir, 'adapter'), outputDir, async (tmp) => {
    for (const [name, text] of Object.entries(adapterFiles(v))) await writeFile(join(tmp, name), text);
  });
}

main(process.argv[2]!, process.argv[3]!).catch((e) => {
  console.error(e);
  process.exit(1);
});
