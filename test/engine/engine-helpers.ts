// Shared by the engine suites: a data directory per test and exact error checks.
import { expectKindError } from '../helpers/expect-kind.ts';
import { HyperspaceError, type ErrorKind } from '../../engine/index.ts';

export { temporaryDirectory } from './stores/temporary-directory.ts';
export { exactL2, vectorOf } from './engine-data.ts';

/** Runs `action` and checks it fails with exactly this kind and message. */
export function expectError(action: () => unknown, kind: ErrorKind, message: string | RegExp): Promise<HyperspaceError> {
  return expectKindError(HyperspaceError, action, kind, message);
}
