/**
 * Crash-safety child: reads the dataset in argv[2] (version v, 0 when there is none) and
 * saves version v + 1 with saveDataset, under the seeded kill point of helpers/killpoint.ts.
 * Prints `{"from": v, "to": v + 1}` when it finishes.
 */
import { installKillHook } from '../helpers/killpoint';
import { loadDataset, saveDataset } from '../../../src/data/dataset';
import { datasetVersion, versionOf } from '../helpers/dataset_versions';

async function main(dir: string): Promise<void> {
  installKillHook();
  let v = 0;
  try {
    v = versionOf(await loadDataset(dir, { split: 'train' }), 'train');
  } catch (e) {
    if (!/no Parquet files|ENOENT/.test((e as Error).message)) throw e;
  }
  await saveDataset(dir, datasetVersion(v + 1));
  console.log(JSON.stringify({ from: v, to: v + 1 }));
}

main(process.argv[2]!).catch((e) => {
  console.error(e);
  process.exit(1);
});
