// Typed errors of the SDK: the server's kind (docs/sdk.md#errors), whichever
// transport carried it. Transport failures the server never answered become
// `unavailable` (connection refused or reset) or `deadline` (the call's own
// timeout).

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

const kinds: readonly ErrorKind[] = ['invalid', 'unauthenticated', 'forbidden', 'not_found', 'conflict', 'too_large', 'overloaded', 'unavailable', 'deadline', 'data', 'internal'];

export class HyperspaceClientError extends Error {
  readonly kind: ErrorKind;
  /** HTTP status or gRPC status code of the reply; undefined when no reply arrived. */
  readonly status: number | undefined;
  /** Server's hint (HTTP `Retry-After`), in milliseconds. */
  readonly retryAfterMs: number | undefined;

  constructor(kind: ErrorKind, message: string, options: { status?: number; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'HyperspaceClientError';
    this.kind = kind;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** Only these two promise that trying again later can succeed (STYLE.md "Errors tell the caller what to do"). */
  get retryable(): boolean {
    return this.kind === 'unavailable' || this.kind === 'overloaded';
  }
}

export function isErrorKind(value: unknown): value is ErrorKind {
  return typeof value === 'string' && (kinds as readonly string[]).includes(value);
}

const kindByHttpStatus: Record<number, ErrorKind> = {
  400: 'invalid', 401: 'unauthenticated', 403: 'forbidden', 404: 'not_found', 409: 'conflict', 413: 'too_large',
  429: 'overloaded', 502: 'unavailable', 503: 'unavailable', 504: 'deadline',
};

/** The kind of an HTTP reply: the body's `error.kind`, else the status (a proxy's 502/503 included). */
export function kindOfHttpReply(status: number, bodyKind: unknown): ErrorKind {
  if (isErrorKind(bodyKind)) return bodyKind;
  return kindByHttpStatus[status] ?? (status >= 500 ? 'internal' : 'invalid');
}

// Numeric gRPC status codes (stable across implementations).
const kindByGrpcCode: Record<number, ErrorKind> = {
  1: 'unavailable', // CANCELLED: the connection went away under the call
  3: 'invalid', 4: 'deadline', 5: 'not_found', 6: 'conflict', 7: 'forbidden', 8: 'overloaded', 11: 'invalid',
  14: 'unavailable', 15: 'data', 16: 'unauthenticated',
};

/**
 * The kind of a gRPC status: the `hs-error-kind` trailer, else the code. A
 * RESOURCE_EXHAUSTED without the trailer comes from grpc-js's own message
 * size limit (either side), which no retry can fix.
 */
export function kindOfGrpcStatus(code: number, trailerKind: unknown, details: string): ErrorKind {
  if (isErrorKind(trailerKind)) return trailerKind;
  if (code === 8 && /larger than max/i.test(details)) return 'too_large';
  return kindByGrpcCode[code] ?? 'internal';
}
