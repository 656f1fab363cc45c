// Shared by the engine suites: a data directory per test and exact error checks.
import { expect } from 'vitest';
import { HyperspaceError, type ErrorKind } from '../../engine/index.ts';

export { temporaryDirectory } from './stores/temporary-directory.ts';
export { exactL2, vectorOf } from './engine-data.ts';

/** Runs `action` and checks it fails with exactly this kind and message. */
export async function expectError(action: () => unknown, kind: ErrorKind, message: string | RegExp): Promise<HyperspaceError> {
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  if (caught === undefined) throw new Error(`expected a ${kind} error: ${String(message)}`);
  expect(caught).toBeInstanceOf(HyperspaceError);
  const error = caught as HyperspaceError;
  if (typeof message === 'string') expect(error.message).toBe(message);
  else expect(error.message).toMatch(message);
  expect(error.kind).toBe(kind);
  return error;
}
