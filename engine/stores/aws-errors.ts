// How the AWS stores read an SDK error: may it be retried, may it have applied
// (docs/format/dynamodb.md "Ambiguous outcomes"), and the jittered backoff.
import { HyperspaceError } from '../../native/errors.ts';
import { limits } from '../limits.ts';

interface SdkError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
}

const throttlingNames = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'SlowDown',
]);

const networkCodes = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH']);

export function errorName(error: unknown): string {
  const e = error as SdkError;
  return e?.name ?? e?.Code ?? e?.code ?? 'Error';
}

export function httpStatus(error: unknown): number | undefined {
  return (error as SdkError)?.$metadata?.httpStatusCode;
}

/** Refused before it was applied, and worth retrying later. */
export function isThrottling(error: unknown): boolean {
  const e = error as SdkError;
  return throttlingNames.has(errorName(error)) || httpStatus(error) === 429 || e?.$retryable?.throttling === true;
}

/** A timeout, a dropped connection or a server error: the request may have
 * applied. Only idempotent calls may simply be retried. */
export function isTransient(error: unknown): boolean {
  if (error instanceof HyperspaceError) return error.kind === 'unavailable';
  const status = httpStatus(error);
  if (status !== undefined && status >= 500) return true;
  const name = errorName(error);
  if (name === 'TimeoutError' || name === 'RequestTimeout' || name === 'RequestTimeoutException') return true;
  if (name === 'InternalServerError' || name === 'InternalError' || name === 'ServiceUnavailable') return true;
  const code = (error as SdkError)?.code;
  if (code !== undefined && networkCodes.has(code)) return true;
  return status === undefined && /socket hang up|ECONNRESET|network/i.test((error as SdkError)?.message ?? '');
}

export function isRetryable(error: unknown): boolean {
  return isThrottling(error) || isTransient(error);
}

/** Full jitter: uniform in [0, min(cap, base·2^attempt)] (attempt from 0). */
export function backoffMs(attempt: number): number {
  return Math.random() * Math.min(limits.awsRetryDelayMsMax, limits.awsRetryDelayMsBase * 2 ** attempt);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs an idempotent call, retrying throttling and transient errors; the last
 * error becomes `unavailable` (retry later), anything else passes through. */
export async function withRetries<T>(what: string, call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isRetryable(error)) throw error;
      if (attempt + 1 >= limits.awsRetryAttemptsMax) throw unavailable(what, error, attempt + 1);
      await sleep(backoffMs(attempt));
    }
  }
}

export function unavailable(what: string, error: unknown, attempts: number): HyperspaceError {
  if (error instanceof HyperspaceError) return error;
  const status = httpStatus(error);
  return new HyperspaceError(
    isThrottling(error) ? 'overloaded' : 'unavailable',
    `${what} failed after ${attempts} attempts: ${errorName(error)}${status ? ` (HTTP ${status})` : ''}: ${(error as SdkError)?.message ?? String(error)}`,
    { cause: error },
  );
}
