import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processStartTime } from '../../../engine/stores/directory-lock.ts';
import { LocalLogStore } from '../../../engine/stores/local-log-store.ts';
import { kill, spawnChild } from './child-process.ts';
import { temporaryDirectory } from './temporary-directory.ts';

describe('data directory lock', () => {
  it('refuses a directory held by a live process, and takes over once it is killed', async () => {
    const directory = await temporaryDirectory();
    const child = spawnChild('hold-lock', directory);
    try {
      await child.waitForLine((line) => line === 'locked');
      await expect(LocalLogStore.open(directory)).rejects.toMatchObject({
        kind: 'conflict',
        message: `data directory is locked by pid ${child.process.pid}: dir=${directory}`,
      });
    } finally {
      await kill(child);
    }
    // SIGKILL left the LOCK file behind; its holder is dead, so it is taken at once.
    const holder = JSON.parse(await readFile(join(directory, 'LOCK'), 'utf8'));
    expect(holder.pid).toBe(child.process.pid);
    const store = await LocalLogStore.open(directory);
    expect(JSON.parse(await readFile(join(directory, 'LOCK'), 'utf8')).pid).toBe(process.pid);
    await store.close();
    await expect(readFile(join(directory, 'LOCK'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a second open in the same process', async () => {
    const directory = await temporaryDirectory();
    const store = await LocalLogStore.open(directory);
    await expect(LocalLogStore.open(directory)).rejects.toMatchObject({
      kind: 'conflict',
      message: `data directory is locked by pid ${process.pid}: dir=${directory}`,
    });
    await store.close();
    await (await LocalLogStore.open(directory)).close();
  });

  it.runIf(process.platform === 'linux')('takes over a lock whose pid was reused by another process', async () => {
    const directory = await temporaryDirectory();
    // Our own pid is alive, but with a different start time it is not the holder.
    expect(processStartTime(process.pid)).toMatch(/^\d+$/);
    await writeFile(join(directory, 'LOCK'), JSON.stringify({ pid: process.pid, startTime: '1' }));
    const store = await LocalLogStore.open(directory);
    await store.close();
  });

  it('takes over a lock file holding garbage', async () => {
    const directory = await temporaryDirectory();
    await writeFile(join(directory, 'LOCK'), 'not json');
    await (await LocalLogStore.open(directory)).close();
  });
});
