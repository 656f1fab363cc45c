// The one table from error kind to gRPC status and HTTP code (../shared/STYLE.md
// "Errors tell the caller what to do"). Every transport maps errors through
// here; nothing else in functions/ picks a status. Spec: docs/api.md "Errors".
import { HyperspaceError, type ErrorKind } from '../engine/index.ts';

/** The numeric values of @grpc/grpc-js `status` (stable across gRPC implementations). */
export const grpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export interface ErrorMapping {
  grpc: number;
  http: number;
  /** Whether a client may retry the same request after a jittered backoff. */
  retryable: boolean;
}

/**
 * `conflict` maps to ALREADY_EXISTS, not ABORTED: the conflicts a caller sees
 * are "collection already exists" and "idempotency key reused with a different
 * payload", both final answers about state that exists, not a transient
 * concurrency failure to retry (ABORTED tells gRPC clients to retry at a
 * higher level). RESOURCE_EXHAUSTED carries both `too_large` and `overloaded`,
 * so gRPC replies also send the kind itself in the `hs-error-kind` trailer.
 */
export const errorTable: Readonly<Record<ErrorKind, ErrorMapping>> = {
  invalid: { grpc: grpcStatus.INVALID_ARGUMENT, http: 400, retryable: false },
  unauthenticated: { grpc: grpcStatus.UNAUTHENTICATED, http: 401, retryable: false },
  forbidden: { grpc: grpcStatus.PERMISSION_DENIED, http: 403, retryable: false },
  not_found: { grpc: grpcStatus.NOT_FOUND, http: 404, retryable: false },
  conflict: { grpc: grpcStatus.ALREADY_EXISTS, http: 409, retryable: false },
  too_large: { grpc: grpcStatus.RESOURCE_EXHAUSTED, http: 413, retryable: false },
  overloaded: { grpc: grpcStatus.RESOURCE_EXHAUSTED, http: 429, retryable: true },
  unavailable: { grpc: grpcStatus.UNAVAILABLE, http: 503, retryable: true },
  deadline: { grpc: grpcStatus.DEADLINE_EXCEEDED, http: 504, retryable: false },
  data: { grpc: grpcStatus.DATA_LOSS, http: 500, retryable: false },
  internal: { grpc: grpcStatus.INTERNAL, http: 500, retryable: false },
};

export const errorKinds = Object.keys(errorTable) as ErrorKind[];

/** gRPC metadata key (trailer) and HTTP body field that carry the kind verbatim. */
export const errorKindMetadataKey = 'hs-error-kind';

/** The JSON body of every HTTP error: `{ "error": { "kind", "message" } }`. */
export interface ErrorBody {
  error: { kind: ErrorKind; message: string };
}

/**
 * Any thrown value as a HyperspaceError. Only engine errors keep their
 * message; anything else is an `internal` bug whose details stay in the
 * server log (returned so the caller can log it), not in the reply.
 */
export function toHyperspaceError(error: unknown): { error: HyperspaceError; unexpected: boolean } {
  if (error instanceof HyperspaceError) return { error, unexpected: false };
  return { error: new HyperspaceError('internal', 'internal error (see the server log)', { cause: error }), unexpected: true };
}

export function isErrorKind(value: unknown): value is ErrorKind {
  return typeof value === 'string' && Object.hasOwn(errorTable, value);
}

/** The kind a client reads back from an HTTP reply: the body's kind when present, else by status. */
export function kindFromHttpStatus(status: number, bodyKind?: unknown): ErrorKind {
  if (isErrorKind(bodyKind)) return bodyKind;
  for (const kind of errorKinds) if (errorTable[kind].http === status) return kind;
  return status >= 500 ? 'internal' : 'invalid';
}

/** The kind a client reads back from a gRPC status: the `hs-error-kind` trailer when present, else by code. */
export function kindFromGrpcStatus(code: number, trailerKind?: unknown): ErrorKind {
  if (isErrorKind(trailerKind)) return trailerKind;
  if (code === grpcStatus.RESOURCE_EXHAUSTED) return 'overloaded';
  if (code === grpcStatus.CANCELLED) return 'unavailable';
  for (const kind of errorKinds) if (errorTable[kind].grpc === code) return kind;
  return 'internal';
}
