// One process holds a data directory (docs/format/local-stores.md
// "Directory lock"). The lock names its holder by pid and process start time,
// so a crashed holder's lock is taken over at once, even after pid reuse.
import { randomBytes } from 'node:crypto';
import { link, readFile, rename, unlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HyperspaceError } from '../../native/errors.ts';
import { limits } from '../limits.ts';
import { fsyncDirectory, isErrorCode, writeAndSync } from './local-files.ts';

interface LockHolder {
  pid: number;
  startTime: string | null;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or
 * null where there is no procfs or the process is gone. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: skip past
    // its last ')'; field 3 is then the first.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[22 - 3] ?? null;
  } catch {
    return null;
  }
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return !isErrorCode(error, 'ESRCH');
  }
}

function parseHolder(text: string): LockHolder | null {
  try {
    const holder = JSON.parse(text) as LockHolder;
    return Number.isSafeInteger(holder.pid) && holder.pid > 0 ? holder : null;
  } catch {
    return null;
  }
}

function holderIsAlive(holder: LockHolder): boolean {
  if (!isProcessAlive(holder.pid)) return false;
  if (holder.startTime === null) return true;
  const startTime = processStartTime(holder.pid);
  return startTime === null || startTime === holder.startTime;
}

export class DirectoryLock {
  readonly path: string;
  private readonly content: string;

  private constructor(path: string, content: string) {
    this.path = path;
    this.content = content;
  }

  static async acquire(directory: string): Promise<DirectoryLock> {
    const path = join(directory, 'LOCK');
    const content = JSON.stringify({ pid: process.pid, startTime: processStartTime(process.pid) });
    const suffix = `${process.pid}-${randomBytes(6).toString('hex')}`;
    const temporary = join(directory, `LOCK.tmp-${suffix}`);
    await writeAndSync(temporary, new TextEncoder().encode(content), 'wx');
    try {
      for (let attempt = 0; attempt < limits.directoryLockAttemptsMax; attempt++) {
        try {
          await link(temporary, path); // fails if LOCK exists: atomic create
          await fsyncDirectory(directory);
          return new DirectoryLock(path, content);
        } catch (error) {
          if (!isErrorCode(error, 'EEXIST')) throw error;
        }
        let existing: string;
        try {
          existing = await readFile(path, 'utf8');
        } catch (error) {
          if (isErrorCode(error, 'ENOENT')) continue;
          throw error;
        }
        const holder = parseHolder(existing);
        if (holder && holderIsAlive(holder)) {
          throw new HyperspaceError('conflict', `data directory is locked by pid ${holder.pid}: dir=${directory}`);
        }
        // Stale: move it aside, and make sure what moved is the stale lock and
        // not one another process took over with meanwhile.
        const aside = join(directory, `LOCK.stale-${suffix}-${attempt}`);
        try {
          await rename(path, aside);
        } catch (error) {
          if (isErrorCode(error, 'ENOENT')) continue;
          throw error;
        }
        const moved = await readFile(aside, 'utf8');
        if (moved !== existing) await link(aside, path).catch(() => {});
        await unlink(aside);
      }
      throw new HyperspaceError(
        'conflict',
        `data directory lock not acquired after ${limits.directoryLockAttemptsMax} attempts: dir=${directory}`,
      );
    } finally {
      await unlink(temporary).catch(() => {});
    }
  }

  /** Removes the lock if it is still ours. */
  async release(): Promise<void> {
    try {
      if ((await readFile(this.path, 'utf8')) === this.content) await unlink(this.path);
    } catch (error) {
      if (!isErrorCode(error, 'ENOENT')) throw error;
    }
  }
}
