// HYPERSPACE_REPLICA_REGION turns the replica stack on (infra/replica.ts,
// docs/aws.md "Region replicas"); infra/settings.ts reads it when the stack is
// evaluated, so each case imports a fresh copy under its own environment.
import { afterEach, describe, expect, it, vi } from 'vitest';

async function settingsWith(region: string | undefined) {
  vi.resetModules();
  vi.stubEnv('HYPERSPACE_REPLICA_REGION', region);
  return (await import('../../infra/settings.ts')).settings;
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('infra settings: the replica region', () => {
  it('is off unless set, and takes an AWS region name', async () => {
    expect((await settingsWith(undefined)).replicaRegion).toBeUndefined();
    expect((await settingsWith('')).replicaRegion).toBeUndefined();
    expect((await settingsWith('eu-west-1')).replicaRegion).toBe('eu-west-1');
    expect((await settingsWith('us-gov-west-1')).replicaRegion).toBe('us-gov-west-1');
  });

  it('refuses anything else with what it expected', async () => {
    await expect(settingsWith('Europe')).rejects.toThrow('HYPERSPACE_REPLICA_REGION must be an AWS region such as "eu-west-1", got "Europe"');
  });
});
