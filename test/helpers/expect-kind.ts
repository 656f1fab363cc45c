// Runs an action that must fail with an error of one class, kind and message:
// the shape of every error-path check (STYLE.md: test the exact message).
import { expect } from 'vitest';

export async function expectKindError<E extends Error & { kind: string }>(
  errorClass: abstract new (...args: any[]) => E, action: () => unknown, kind: E['kind'], message: string | RegExp,
): Promise<E> {
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  if (caught === undefined) throw new Error(`expected a ${kind} error: ${String(message)}`);
  expect(caught).toBeInstanceOf(errorClass);
  const error = caught as E;
  if (typeof message === 'string') expect(error.message).toBe(message);
  else expect(error.message).toMatch(message);
  expect(error.kind).toBe(kind);
  return error;
}
