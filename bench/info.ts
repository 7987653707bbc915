/** Prints runtimeInfo() as JSON for `auto` and for `webgpu` (what docs/performance.md records). */
import { initRuntime, runtimeInfo } from '../src/runtime';

async function main(): Promise<void> {
  const auto = await initRuntime({ backend: 'auto' });
  console.log(JSON.stringify({ auto: { backend: auto.backend, reason: auto.reason, skipped: auto.skipped } }, null, 2));
  await initRuntime({ backend: 'webgpu' });
  console.log(JSON.stringify(runtimeInfo(), null, 2));
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
