/**
 * Seeded kill points for crash-safety children: counts the filesystem operations a child
 * makes under one folder and SIGKILLs the child (a real `kill -9` of itself, nothing is
 * flushed or cleaned up) just before operation number `KILL_AT` would run.
 *
 * Env (read by `installKillHook`):
 *   KILL_ROOT   folder whose operations are counted (paths outside it run untouched)
 *   KILL_AT     1-based operation to die at; 0 or unset: never (a counting dry run)
 *   KILL_NOTE   file that receives, before the kill, which operation it was; and on a
 *               normal exit the number of operations counted
 *
 * Counted operations are those of `node:fs/promises` (every library writer uses it):
 * open, writeFile, appendFile, rename, mkdir, rm, rmdir, unlink, link, copyFile, truncate,
 * and FileHandle write/writeFile/appendFile/sync/datasync/truncate/close. writeFile and
 * appendFile of a buffer or string are performed as 16 KiB writes, one operation each, so
 * a kill can land in the middle of a file's bytes (the file then really is half written).
 * This module must be imported before the library modules it watches.
 */
import { writeFileSync } from 'node:fs';
import type * as fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { resolve, sep } from 'node:path';

const CHUNK = 16 * 1024;

export function installKillHook(): void {
  const rootEnv = process.env.KILL_ROOT;
  if (!rootEnv) throw new Error('installKillHook: KILL_ROOT is not set');
  const root = resolve(rootEnv);
  const killAt = Number(process.env.KILL_AT ?? 0);
  const note = process.env.KILL_NOTE;
  let count = 0;
  const inRoot = (p: unknown) => {
    if (typeof p !== 'string' && !(p instanceof URL) && !Buffer.isBuffer(p)) return false;
    const abs = resolve(p instanceof URL ? p.pathname : String(p));
    return abs === root || abs.startsWith(root + sep);
  };
  /** Called before each counted operation: dies when it is the chosen one. */
  const step = (what: string) => {
    count++;
    if (process.env.KILL_TRACE) process.stderr.write(`op ${count}: ${what}\n${new Error().stack!.split('\n').slice(2, 6).join('\n')}\n`);
    if (killAt > 0 && count === killAt) {
      if (note) writeFileSync(note, JSON.stringify({ killedAt: count, op: what.replace(root, '<root>') }) + '\n');
      process.kill(process.pid, 'SIGKILL');
      // SIGKILL is not deliverable late; nothing below runs.
    }
  };
  if (note && killAt === 0) {
    process.on('exit', () => writeFileSync(note, JSON.stringify({ operations: count }) + '\n'));
  }

  // The module object itself (an `import * as` namespace would be a copy under tsx).
  const m = require('node:fs/promises') as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const orig = { ...m } as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const paths = new WeakMap<object, string>();
  let protoPatched = false;

  const patchHandleProto = (h: object) => {
    if (protoPatched) return;
    protoPatched = true;
    const proto = Object.getPrototypeOf(h) as Record<string, (...a: unknown[]) => Promise<unknown>>;
    for (const name of ['write', 'sync', 'datasync', 'truncate']) {
      const f = proto[name]!;
      proto[name] = function (this: object, ...a: unknown[]) {
        const p = paths.get(this);
        if (p !== undefined) step(`${name} ${p}${name === 'write' && a[0] instanceof Uint8Array ? ` (${a[0].length} bytes)` : ''}`);
        return f.apply(this, a);
      };
    }
    for (const name of ['writeFile', 'appendFile']) {
      const f = proto[name]!;
      proto[name] = async function (this: { write: (b: Uint8Array) => Promise<unknown> }, data: unknown, ...a: unknown[]) {
        if (paths.get(this) === undefined || !(typeof data === 'string' || data instanceof Uint8Array)) return f.call(this, data, ...a);
        const bytes = typeof data === 'string' ? Buffer.from(data) : data;
        for (let i = 0; i < bytes.length; i += CHUNK) await this.write(bytes.subarray(i, i + CHUNK));
      };
    }
  };

  m.open = async (...a: unknown[]) => {
    if (inRoot(a[0])) step(`open ${String(a[0])} ${String(a[1] ?? 'r')}`);
    const h = (await orig.open!(...a)) as object;
    patchHandleProto(h);
    if (inRoot(a[0])) {
      paths.set(h, String(a[0]));
      // close is an own property of each FileHandle, not on its prototype.
      const handle = h as { close: () => Promise<void> };
      const close = handle.close;
      handle.close = () => {
        step(`close ${String(a[0])}`);
        return close.call(h);
      };
    }
    return h;
  };
  const chunked = (name: 'writeFile' | 'appendFile') => async (file: unknown, data: unknown, opts?: unknown) => {
    if (!inRoot(file) || !(typeof data === 'string' || data instanceof Uint8Array) || typeof file !== 'string') {
      return orig[name]!(file, data, opts);
    }
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const fh = (await m.open!(file, name === 'writeFile' ? 'w' : 'a')) as fsp.FileHandle;
    try {
      for (let i = 0; i < bytes.length; i += CHUNK) await fh.write(bytes.subarray(i, Math.min(bytes.length, i + CHUNK)));
    } finally {
      await fh.close();
    }
  };
  m.writeFile = chunked('writeFile');
  m.appendFile = chunked('appendFile');
  for (const name of ['rename', 'link', 'copyFile']) {
    m[name] = (...a: unknown[]) => {
      if (inRoot(a[0]) || inRoot(a[1])) step(`${name} ${String(a[0])} -> ${String(a[1])}`);
      return orig[name]!(...a);
    };
  }
  for (const name of ['mkdir', 'rm', 'rmdir', 'unlink', 'truncate']) {
    m[name] = (...a: unknown[]) => {
      if (inRoot(a[0])) step(`${name} ${String(a[0])}`);
      return orig[name]!(...a);
    };
  }
  syncBuiltinESMExports();
}

/** The outcome a child's KILL_NOTE file records. */
export type KillNote = { killedAt: number; op: string } | { operations: number };
