// The stack type-checks offline from AWS (npm run check:infra): sst install
// over the npm registry with the bun npm installed, then tsc against SST's
// platform types. Needs the npm registry, nothing else.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('npm run check:infra', () => {
  it('type-checks sst.config.ts and infra/ against the SST platform', () => {
    const run = spawnSync(process.execPath, ['bin/check-infra.mjs'], { encoding: 'utf8', timeout: 280_000 });
    if (run.status !== 0) throw new Error(`check:infra failed (exit ${run.status}${run.signal ? `, ${run.signal}` : ''}):\n${run.stdout}${run.stderr}`);
    expect(run.stdout).toContain('check:infra: sst.config.ts and infra/ type-check against the SST platform');
  }, 300_000);
});
