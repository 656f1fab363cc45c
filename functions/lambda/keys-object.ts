// API keys of a deployment on AWS: `auth/keys.json` in the bucket, in the
// format of functions/auth/keys-file.ts (SHA-256 hashes only, never a secret),
// written with `hyperspace keys create --data <dir>` and uploaded with
// `aws s3 cp` (docs/aws.md "API keys"). Read again at most every `reloadMs`,
// so a revocation takes effect within that on every warm container; a failed
// reload keeps the keys read before. No object: no key is valid.
import { HyperspaceError } from '../../engine/index.ts';
import { Authenticator } from '../auth/authenticator.ts';
import { keysFormatVersion, type KeyRecord } from '../auth/keys-file.ts';
import type { Stores } from './indexing.ts';
import { errorFields, type Logger } from './log.ts';

export const keysObjectKey = 'auth/keys.json';

export class KeysObject {
  private loaded: { atMs: number; authenticator: Authenticator } | undefined;

  constructor(private readonly stores: Stores, private readonly options: { reloadMs?: number; log: Logger }) {}

  /** The authenticator over the current keys (required: a request without a valid key is refused). */
  async authenticator(nowMs = Date.now()): Promise<Authenticator> {
    if (this.loaded && nowMs - this.loaded.atMs < (this.options.reloadMs ?? 30_000)) return this.loaded.authenticator;
    try {
      const keys = await readKeysObject(this.stores);
      if (keys.length === 0) this.options.log('warn', `no API keys: every request is refused until ${keysObjectKey} in the bucket holds one (docs/aws.md)`);
      this.loaded = { atMs: nowMs, authenticator: await Authenticator.open({ keys, required: true }) };
    } catch (error) {
      if (!this.loaded) throw error;
      this.options.log('warn', 'cannot reload the API keys: keeping the ones loaded before', errorFields(error));
      this.loaded.atMs = nowMs;
    }
    return this.loaded.authenticator;
  }
}

/** The key records in `auth/keys.json`; none when the object is absent. */
export async function readKeysObject(stores: Stores): Promise<KeyRecord[]> {
  let bytes: Uint8Array;
  try {
    bytes = await stores.objects.get(keysObjectKey);
  } catch (error) {
    if (error instanceof HyperspaceError && error.kind === 'not_found') return [];
    throw error;
  }
  let parsed: { version?: unknown; keys?: unknown };
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes)) as typeof parsed;
  } catch (e) {
    throw new HyperspaceError('data', `keys object is not valid JSON: key=${keysObjectKey} (${(e as Error).message})`);
  }
  if (parsed?.version !== keysFormatVersion || !Array.isArray(parsed.keys)) {
    throw new HyperspaceError('data', `keys object has an unknown format: key=${keysObjectKey} version=${String(parsed?.version)}`);
  }
  return parsed.keys as KeyRecord[];
}
