// Turns the credentials of a request (HTTP `Authorization: Bearer` or
// `x-api-key`; the same gRPC metadata) into a Principal, and applies the key's
// rate limit. Shared by both servers, checked before any work. Keys are looked
// up by the SHA-256 of the presented secret; the file is re-read when it
// changes (at most once per reload interval), so `hyperspace keys create` and
// `revoke` take effect on a running server.
import { HyperspaceError } from '../../engine/index.ts';
import type { Principal } from '../handlers.ts';
import { hashKey, keysVersion, readKeys, type KeyRecord } from './keys-file.ts';
import { TokenBucket } from './rate-limit.ts';

export interface Credentials {
  authorization?: string | undefined;
  apiKey?: string | undefined;
}

/** `overloaded` with the seconds to wait, for Retry-After. */
export class RateLimitedError extends HyperspaceError {
  constructor(readonly retryAfterSeconds: number, message: string) {
    super('overloaded', message);
  }
}

export interface AuthenticatorOptions {
  /** Reads `<dataDir>/keys.json`; without it, only `keys` are known. */
  dataDir?: string;
  keys?: KeyRecord[];
  /**
   * Refuse requests without a valid key even while no key exists (serving on a
   * non-loopback address). Otherwise auth is enforced as soon as one active key exists.
   */
  required?: boolean;
  reloadIntervalMs?: number;
}

export class Authenticator {
  private byHash = new Map<string, KeyRecord>();
  private readonly buckets = new Map<string, TokenBucket>();
  private version = -1;
  private checkedAtMs = 0;
  private reloading: Promise<void> | undefined;

  private constructor(private readonly options: AuthenticatorOptions) {
    this.install(options.keys ?? []);
  }

  static async open(options: AuthenticatorOptions = {}): Promise<Authenticator> {
    const a = new Authenticator(options);
    await a.reload();
    return a;
  }

  /** Whether requests must carry a key right now. */
  get enforced(): boolean {
    return this.options.required === true || this.byHash.size > 0;
  }

  get activeKeys(): number {
    return this.byHash.size;
  }

  /**
   * The caller's principal, or undefined while auth is not enforced. Throws
   * `unauthenticated` (no or unknown key) or RateLimitedError (`overloaded`).
   */
  async authenticate(credentials: Credentials, nowMs = Date.now()): Promise<Principal | undefined> {
    if (this.options.dataDir && nowMs - this.checkedAtMs >= (this.options.reloadIntervalMs ?? 1000)) {
      this.checkedAtMs = nowMs;
      this.reloading ??= this.reload().finally(() => (this.reloading = undefined));
      await this.reloading;
    }
    const secret = presentedSecret(credentials);
    if (secret === undefined) {
      if (!this.enforced) return undefined;
      throw new HyperspaceError('unauthenticated', 'missing API key: send "Authorization: Bearer <key>" or "x-api-key: <key>"');
    }
    const record = this.byHash.get(hashKey(secret));
    if (!record) throw new HyperspaceError('unauthenticated', 'invalid or revoked API key');
    let bucket = this.buckets.get(record.id);
    if (!bucket) this.buckets.set(record.id, (bucket = new TokenBucket(record.rate, nowMs)));
    const waitSeconds = bucket.take(nowMs);
    if (waitSeconds > 0) {
      throw new RateLimitedError(waitSeconds,
        `rate limit exceeded for key ${record.id}: ${record.rate.perSecond} requests/s, burst ${record.rate.burst}; retry after ${waitSeconds} s`);
    }
    return { keyId: record.id, name: record.name, collections: record.collections, access: record.access };
  }

  private async reload(): Promise<void> {
    if (!this.options.dataDir) return;
    const version = await keysVersion(this.options.dataDir);
    if (version === this.version) return;
    const keys = await readKeys(this.options.dataDir);
    this.version = version;
    this.install([...(this.options.keys ?? []), ...keys]);
  }

  private install(keys: KeyRecord[]): void {
    this.byHash = new Map(keys.filter((k) => k.revokedAt === null).map((k) => [k.hash, k]));
    for (const id of this.buckets.keys()) if (![...this.byHash.values()].some((k) => k.id === id)) this.buckets.delete(id);
  }
}

function presentedSecret(credentials: Credentials): string | undefined {
  const authorization = credentials.authorization?.trim();
  if (authorization) {
    const match = /^bearer\s+(\S+)$/i.exec(authorization);
    if (!match) throw new HyperspaceError('unauthenticated', 'Authorization header must be "Bearer <key>"');
    return match[1];
  }
  const apiKey = credentials.apiKey?.trim();
  return apiKey ? apiKey : undefined;
}
