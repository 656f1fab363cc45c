// The few error kinds every layer speaks (../shared/STYLE.md). The transport
// layer maps each kind to one gRPC status and one HTTP code.
export type ErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'too_large'
  | 'overloaded'
  | 'unavailable'
  | 'deadline'
  | 'data'
  | 'internal';

export class HyperspaceError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = 'HyperspaceError';
  }
}

export function invalid(message: string): HyperspaceError {
  return new HyperspaceError('invalid', message);
}

export function dataError(message: string, cause?: unknown): HyperspaceError {
  return new HyperspaceError('data', message, { cause });
}
