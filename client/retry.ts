// When and how long to wait before trying a call again: only after
// `unavailable` or `overloaded` (the server did not do the work, or asks to
// back off), with full-jitter exponential backoff so that many clients
// rejected together do not come back together. Writes keep their idempotency
// key across attempts, so a retry after a lost reply cannot apply twice.
import { HyperspaceClientError } from './errors.ts';

export interface RetryPolicy {
  /** Attempts in all, the first included; 1 disables retries. */
  attemptsMax: number;
  /** Cap of the first backoff; doubles each retry. */
  delayMsBase: number;
  /** Largest cap of one backoff. */
  delayMsMax: number;
}

export const retryDefaults: RetryPolicy = { attemptsMax: 4, delayMsBase: 50, delayMsMax: 2000 };

/**
 * Delay before retry number `retry` (1 for the first retry): uniform in
 * [0, min(delayMsMax, delayMsBase·2^(retry−1))), but never less than the
 * server's Retry-After hint.
 */
export function backoffMs(policy: RetryPolicy, retry: number, hintMs = 0, random: () => number = Math.random): number {
  const cap = Math.min(policy.delayMsMax, policy.delayMsBase * 2 ** (retry - 1));
  return Math.max(hintMs, Math.floor(random() * cap));
}

/** Whether a failed attempt may be retried, given the attempts made so far (the caller checks the deadline). */
export function shouldRetry(error: unknown, attempt: number, policy: RetryPolicy): error is HyperspaceClientError {
  return error instanceof HyperspaceClientError && error.retryable && attempt < policy.attemptsMax;
}

export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
