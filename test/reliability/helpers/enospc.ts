/**
 * A full disk, injected in this process: writes under `root` through node:fs/promises
 * (writeFile, appendFile, FileHandle.write: what every library writer uses) may add at most
 * `freeBytes` in all; the write that would pass it writes what fits, then fails with the
 * ENOSPC error the kernel gives (code ENOSPC, errno -28, syscall write). Used when the test
 * cannot mount a small filesystem (not root); disk_full.test.ts does both when it can.
 */
import { resolve, sep } from 'node:path';

export function enospcError(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { errno: -28, code: 'ENOSPC', syscall: 'write' });
}

/** Runs `f` with at most `freeBytes` writable under `root`; restores fs/promises afterwards. */
export async function withDiskLimit<T>(root: string, freeBytes: number, f: () => Promise<T>): Promise<T> {
  const m = require('node:fs/promises') as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const abs = resolve(root);
  const inRoot = (p: unknown) => typeof p === 'string' && (resolve(p) === abs || resolve(p).startsWith(abs + sep));
  let left = freeBytes;
  const take = (n: number) => {
    const ok = Math.max(0, Math.min(n, left));
    left -= ok;
    return ok;
  };
  const saved = { writeFile: m.writeFile!, appendFile: m.appendFile!, open: m.open! };
  const paths = new WeakMap<object, string>();
  const probe = (await saved.open(__filename, 'r')) as { close(): Promise<void> };
  const proto = Object.getPrototypeOf(probe) as Record<string, (...a: unknown[]) => Promise<unknown>>;
  await probe.close();
  const savedWrite = proto.write!;
  const limited = (orig: (...a: unknown[]) => Promise<unknown>) => async (file: unknown, data: unknown, ...rest: unknown[]) => {
    if (!inRoot(file) || !(typeof data === 'string' || data instanceof Uint8Array)) return orig(file, data, ...rest);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const n = take(bytes.length);
    await orig(file, bytes.subarray(0, n), ...rest);
    if (n < bytes.length) throw enospcError();
  };
  m.writeFile = limited(saved.writeFile);
  m.appendFile = limited(saved.appendFile);
  m.open = async (...a: unknown[]) => {
    const h = (await saved.open(...a)) as object;
    if (inRoot(a[0])) paths.set(h, String(a[0]));
    return h;
  };
  proto.write = async function (this: object, ...a: unknown[]) {
    if (!paths.has(this) || !(a[0] instanceof Uint8Array)) return savedWrite.apply(this, a);
    const buf = a[0];
    const offset = typeof a[1] === 'number' ? a[1] : 0;
    const length = typeof a[2] === 'number' ? a[2] : buf.length - offset;
    const n = take(length);
    if (n === 0) throw enospcError();
    return savedWrite.call(this, buf, offset, n, a[3]);
  };
  try {
    return await f();
  } finally {
    Object.assign(m, saved);
    proto.write = savedWrite;
  }
}
