/**
 * Writing files so that a failure leaves nothing behind: the bytes go to a hidden
 * temporary file next to the target, which is renamed over the target only when complete.
 * A kill at any moment leaves the old target (or none) and at most a temporary file; a
 * failed write (a full disk, say) throws a `FileWriteError` naming the target.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Why a write failed, in words a user can act on. */
const FS_REASONS: Record<string, string> = {
  ENOSPC: 'no space left on the disk',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large for the filesystem',
  EROFS: 'the filesystem is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'input/output error',
};

/** A filesystem error while writing `file`; `code` is the errno name (ENOSPC, ...). */
export class FileWriteError extends Error {
  constructor(readonly file: string, readonly code: string, detail: string) {
    super(`${file}: cannot write (${FS_REASONS[code] ?? code}: ${detail})`);
    this.name = 'FileWriteError';
  }
}

/** A Node filesystem error (it has an errno code such as ENOSPC and a syscall). */
export function isFsError(e: unknown): e is NodeJS.ErrnoException & { code: string } {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && typeof (e as NodeJS.ErrnoException).syscall === 'string';
}

/** `e` as a FileWriteError naming `file` (with `what` happened to it) when it is a filesystem error; otherwise `e`. */
export function asWriteError(e: unknown, file: string, what: string): unknown {
  if (!isFsError(e)) return e;
  return new FileWriteError(file, e.code, `${e.syscall} failed; ${what}`);
}

/** A temporary path in `file`'s folder (same filesystem, so the final rename is atomic). */
export function tempPathFor(file: string): string {
  return join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Runs `write(tmp)` and renames `tmp` over `file` when it succeeds; removes `tmp` when it
 * throws, so a failed write never leaves a partial `file`. Filesystem errors (ENOSPC...)
 * become a FileWriteError naming `file`.
 */
export async function writeAtomically(file: string, write: (tmp: string) => Promise<void>): Promise<void> {
  try {
    await mkdir(dirname(file), { recursive: true });
  } catch (e) {
    throw asWriteError(e, file, `its folder could not be made`);
  }
  const tmp = tempPathFor(file);
  try {
    await write(tmp);
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw asWriteError(e, file, 'the file was left as it was before');
  }
}

/** Writes bytes or text to `file` atomically. */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  await writeAtomically(file, (tmp) => writeFile(tmp, data));
}
