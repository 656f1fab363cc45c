// The bounded map of recent idempotency keys of one collection's WAL
// (docs/format/wal.md "Idempotency"), shared by the LogStore implementations
// that keep it in process (local files, memory).
import { HyperspaceError } from '../../native/errors.ts';
import { limits } from '../limits.ts';

export interface IdempotencyEntry {
  seq: number;
  payloadCrc: number;
  appendedAtMs: number;
}

const utf8 = new TextEncoder();

export class IdempotencyKeys {
  private readonly collection: string;
  /** Insertion order is commit order: the oldest key comes first. */
  private readonly entries = new Map<string, IdempotencyEntry>();
  private readonly inFlight = new Map<string, { promise: Promise<{ seq: number }>; payloadCrc: number }>();

  constructor(collection: string) {
    this.collection = collection;
  }

  /** The key's UTF-8 bytes, or null without a key; refuses a bad key. */
  encode(key: string | undefined): Uint8Array | null {
    if (key === undefined) return null;
    const bytes = utf8.encode(String(key));
    if (typeof key !== 'string' || bytes.length === 0 || bytes.length > limits.walIdempotencyKeyBytesMax) {
      throw new HyperspaceError(
        'invalid',
        `invalid idempotency key: collection=${this.collection} bytes=${bytes.length} expected=1..${limits.walIdempotencyKeyBytesMax}`,
      );
    }
    return bytes;
  }

  /** For a known or in-flight key, the original seq (or a `conflict` if the
   * payload differs); undefined for a new key. */
  lookup(key: string, payloadCrc: number): Promise<{ seq: number }> | undefined {
    this.forgetExpired(Date.now());
    const known = this.entries.get(key) ?? this.inFlight.get(key);
    if (!known) return undefined;
    return (async () => {
      const seq = 'seq' in known ? known.seq : (await known.promise).seq;
      if (known.payloadCrc !== payloadCrc) {
        throw new HyperspaceError(
          'conflict',
          `idempotency key reused with a different payload: collection=${this.collection} key=${key} seq=${seq}`,
        );
      }
      return { seq };
    })();
  }

  /** Retries that arrive while the first append is still queued share its outcome. */
  trackInFlight(key: string, promise: Promise<{ seq: number }>, payloadCrc: number): void {
    this.inFlight.set(key, { promise, payloadCrc });
    const forget = () => this.inFlight.delete(key);
    promise.then(forget, forget);
  }

  remember(key: string, entry: IdempotencyEntry): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= limits.walIdempotencyKeysMax) break;
      this.entries.delete(oldest);
    }
  }

  /** Entries with seq below `seq`, oldest first (to persist before their records go). */
  below(seq: number): [string, IdempotencyEntry][] {
    return [...this.entries].filter(([, entry]) => entry.seq < seq);
  }

  forgetExpired(now: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.appendedAtMs >= now - limits.walIdempotencyWindowMs) break;
      this.entries.delete(key);
    }
  }
}
