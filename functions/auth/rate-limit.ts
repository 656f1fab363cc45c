// Per-key token buckets: `burst` tokens, refilled at `perSecond`; one request
// takes one token. An empty bucket answers `overloaded` (HTTP 429) with the
// seconds until a token is back (Retry-After).
import type { RateLimit } from './keys-file.ts';

export class TokenBucket {
  private tokens: number;
  private updatedAtMs: number;

  constructor(private readonly limit: RateLimit, nowMs = Date.now()) {
    this.tokens = limit.burst;
    this.updatedAtMs = nowMs;
  }

  /** Takes a token: 0 when granted, else the whole seconds to wait (≥ 1). */
  take(nowMs = Date.now()): number {
    if (this.limit.perSecond <= 0) return 0;
    const elapsedSeconds = Math.max(0, nowMs - this.updatedAtMs) / 1000;
    this.tokens = Math.min(this.limit.burst, this.tokens + elapsedSeconds * this.limit.perSecond);
    this.updatedAtMs = nowMs;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - this.tokens) / this.limit.perSecond));
  }
}
