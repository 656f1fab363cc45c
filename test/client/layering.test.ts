// DESIGN §1: client/ imports only proto/, so `hyperspacedb/client` loads no
// engine and no native addon. The one exception is client/replica.ts
// (`hyperspacedb/client/replica`): an embedded replica is the engine.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const clientDir = join(import.meta.dirname, '../../client');

async function importsOf(file: string): Promise<string[]> {
  const source = await readFile(join(clientDir, file), 'utf8');
  return [...source.matchAll(/^(?:import|export)\b[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1]!);
}

describe('client/ layering', () => {
  it('imports only proto/, its own files and npm packages; replica.ts alone imports the engine', async () => {
    const files = (await readdir(clientDir)).filter((f) => f.endsWith('.ts'));
    expect(files).toContain('replica.ts');
    for (const file of files) {
      const outside = (await importsOf(file)).filter((spec) => spec.startsWith('../') && !spec.startsWith('../proto/'));
      if (file === 'replica.ts') expect(outside.every((spec) => spec.startsWith('../engine/')), `${file}: ${outside.join(', ')}`).toBe(true);
      else expect(outside, file).toEqual([]);
    }
    expect(await importsOf('index.ts')).not.toContain('./replica.ts');
  });
});
