// The ObjectStore on an S3 bucket (DESIGN §3), or any S3-compatible server
// (`AWS_ENDPOINT_URL`). Format and rules: docs/format/dynamodb.md "S3 object store".
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { HyperspaceError } from '../../native/errors.ts';
import { crc32c } from '../../native/index.ts';
import { limits } from '../limits.ts';
import { sha256 } from '../sha256.ts';
import { errorName, httpStatus, withRetries } from './aws-errors.ts';
import { inParts } from './in-parts.ts';
import { assertObjectKey, compareKeys, objectNotFound, type ByteRange, type ObjectStore } from './object-store.ts';

export interface S3ObjectStoreOptions {
  bucket: string;
  /** Prepended to every key (e.g. `tenant-a/`), so a bucket can hold several databases. */
  prefix?: string;
  /** A ready client (tests wrap its `send`); otherwise one is made from the fields below. */
  client?: S3Client;
  region?: string;
  /** Default: `AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`, then AWS. */
  endpoint?: string;
  /** Default: on when an endpoint is set (most S3-compatible servers need it). */
  forcePathStyle?: boolean;
  credentials?: S3ClientConfig['credentials'];
  /** Send `If-None-Match: *` on puts (default true); S3 enforces it, some servers ignore it. */
  conditionalWrites?: boolean;
  /** The server enforces `If-None-Match: *`, so a put needs no HEAD first (one
   * round trip less per put). Default: true only when talking to AWS itself
   * (no endpoint, no client given); s3rver ignores the header. */
  trustConditionalWrites?: boolean;
  multipartThresholdBytes?: number;
  partBytes?: number;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
const crcHex = (value: number) => (value >>> 0).toString(16).padStart(8, '0');

export class S3ObjectStore implements ObjectStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;
  private readonly ownsClient: boolean;
  private readonly conditionalWrites: boolean;
  private readonly trustConditionalWrites: boolean;
  private readonly multipartThresholdBytes: number;
  private readonly partBytes: number;
  /** Puts of one key run one after another in this process (see put). */
  private readonly putsInFlight = new Map<string, Promise<void>>();

  constructor(options: S3ObjectStoreOptions) {
    if (typeof options.bucket !== 'string' || options.bucket === '') {
      throw new HyperspaceError('invalid', 'S3 object store needs a bucket');
    }
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? '';
    if (this.prefix !== '' && !this.prefix.endsWith('/')) {
      throw new HyperspaceError('invalid', `S3 key prefix must end with '/': prefix=${this.prefix}`);
    }
    this.conditionalWrites = options.conditionalWrites ?? true;
    const awsItself = options.client === undefined && s3ClientConfig(options).endpoint === undefined;
    this.trustConditionalWrites = this.conditionalWrites && (options.trustConditionalWrites ?? awsItself);
    this.multipartThresholdBytes = options.multipartThresholdBytes ?? limits.s3MultipartThresholdBytes;
    this.partBytes = options.partBytes ?? limits.s3PartBytes;
    if (this.partBytes < 5 * 1024 * 1024 || this.multipartThresholdBytes < this.partBytes) {
      throw new HyperspaceError(
        'invalid',
        `invalid multipart sizes: partBytes=${this.partBytes} (S3 minimum 5 MiB) thresholdBytes=${this.multipartThresholdBytes}`,
      );
    }
    this.ownsClient = options.client === undefined;
    this.client = options.client ?? new S3Client(s3ClientConfig(options));
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    assertObjectKey(key);
    if (!(bytes instanceof Uint8Array)) throw new HyperspaceError('invalid', `object body must be a Uint8Array: key=${key}`);
    // Serialize puts of one key here, so a head-then-put race needs two processes
    // (docs/format/dynamodb.md: our keys make that race harmless).
    const previous = this.putsInFlight.get(key) ?? Promise.resolve();
    const current = previous.catch(() => undefined).then(() => this.putOnce(key, bytes));
    this.putsInFlight.set(key, current);
    try {
      await current;
    } finally {
      if (this.putsInFlight.get(key) === current) this.putsInFlight.delete(key);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    assertObjectKey(key);
    if (range === undefined) return this.getWhole(key);
    const { offset, length } = range;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new HyperspaceError('invalid', `invalid range: key=${key} offset=${offset} length=${length}`);
    }
    if (length === 0) {
      const head = await this.head(key);
      if (!head) throw objectNotFound(key);
      if (offset > head.size) throw rangeError(key, offset, length, head.size);
      return new Uint8Array(0);
    }
    return withRetries(`s3 get key=${key}`, async () => {
      let response;
      try {
        response = await this.client.send(
          new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, Range: `bytes=${offset}-${offset + length - 1}` }),
        );
      } catch (error) {
        if (isNotFound(error)) throw objectNotFound(key);
        if (httpStatus(error) === 416) {
          const head = await this.head(key);
          if (!head) throw objectNotFound(key);
          throw rangeError(key, offset, length, head.size);
        }
        throw error;
      }
      const body = await response.Body!.transformToByteArray();
      if (body.length !== length) {
        const size = Number(/\/(\d+)$/.exec(response.ContentRange ?? '')?.[1] ?? NaN);
        if (Number.isSafeInteger(size) && offset + length > size) throw rangeError(key, offset, length, size);
        throw new HyperspaceError('unavailable', `short ranged read: key=${key} offset=${offset} expected=${length} got=${body.length}`);
      }
      return body;
    });
  }

  async head(key: string): Promise<{ size: number } | null> {
    assertObjectKey(key);
    const head = await this.headObject(key);
    return head ? { size: head.size } : null;
  }

  async list(prefix: string): Promise<string[]> {
    if (typeof prefix !== 'string') throw new HyperspaceError('invalid', `list prefix must be a string: prefix=${prefix}`);
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await withRetries(`s3 list prefix=${prefix}`, () =>
        this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ContinuationToken: token }),
        ),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined || !object.Key.startsWith(this.prefix)) continue;
        keys.push(object.Key.slice(this.prefix.length));
        if (keys.length > limits.objectListKeysMax) {
          throw new HyperspaceError('too_large', `too many objects to list: prefix=${prefix} max=${limits.objectListKeysMax}`);
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return keys.sort(compareKeys);
  }

  async delete(key: string): Promise<void> {
    assertObjectKey(key);
    await withRetries(`s3 delete key=${key}`, async () => {
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    });
  }

  /** Releases the client if this store made it. */
  close(): void {
    if (this.ownsClient) this.client.destroy();
  }

  private async putOnce(key: string, bytes: Uint8Array): Promise<void> {
    const digest = hex(sha256(bytes));
    const metadata = { crc32c: crcHex(crc32c(bytes)), sha256: digest };
    if (!this.trustConditionalWrites && (await this.sameObjectExists(key, bytes.length, digest))) return;
    try {
      if (bytes.length > this.multipartThresholdBytes) await this.putMultipart(key, bytes, metadata);
      else {
        await withRetries(`s3 put key=${key}`, () =>
          this.client.send(
            new PutObjectCommand({
              Bucket: this.bucket,
              Key: this.prefix + key,
              Body: bytes,
              ContentLength: bytes.length,
              Metadata: metadata,
              IfNoneMatch: this.conditionalWrites ? '*' : undefined,
            }),
          ),
        );
      }
    } catch (error) {
      // Someone created the key between our HEAD and PUT: same bytes or conflict.
      if (isPreconditionFailed(error) && (await this.sameObjectExists(key, bytes.length, digest))) return;
      throw error;
    }
  }

  /** True if `key` holds these bytes (size and SHA-256), false if absent;
   * `conflict` if it holds other bytes. */
  private async sameObjectExists(key: string, size: number, digest: string): Promise<boolean> {
    const existing = await this.headObject(key);
    if (!existing) return false;
    if (existing.size === size && existing.sha256 === digest) return true;
    throw new HyperspaceError(
      'conflict',
      `object already exists with different content: key=${key} size=${existing.size} newSize=${size}`,
    );
  }

  private async putMultipart(key: string, bytes: Uint8Array, metadata: Record<string, string>): Promise<void> {
    const target = { Bucket: this.bucket, Key: this.prefix + key };
    const created = await withRetries(`s3 create multipart upload key=${key}`, () =>
      this.client.send(new CreateMultipartUploadCommand({ ...target, Metadata: metadata })),
    );
    const uploadId = created.UploadId!;
    try {
      const partCount = Math.ceil(bytes.length / this.partBytes);
      const etags: string[] = new Array(partCount);
      await inParts(partCount, limits.s3PartsInFlightMax, async (index) => {
        const body = bytes.subarray(index * this.partBytes, Math.min(bytes.length, (index + 1) * this.partBytes));
        const part = await withRetries(`s3 upload part key=${key} part=${index + 1}`, () =>
          this.client.send(
            new UploadPartCommand({ ...target, UploadId: uploadId, PartNumber: index + 1, Body: body, ContentLength: body.length }),
          ),
        );
        etags[index] = part.ETag!;
      });
      await withRetries(`s3 complete multipart upload key=${key}`, () =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            ...target,
            UploadId: uploadId,
            MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
            IfNoneMatch: this.conditionalWrites ? '*' : undefined,
          }),
        ),
      );
    } catch (error) {
      await this.client.send(new AbortMultipartUploadCommand({ ...target, UploadId: uploadId })).catch(() => undefined);
      throw error;
    }
  }

  private async getWhole(key: string): Promise<Uint8Array> {
    // One re-read on a checksum mismatch: a flipped bit in transit is not the object.
    for (let attempt = 0; ; attempt++) {
      const { body, metadata } = await withRetries(`s3 get key=${key}`, async () => {
        try {
          const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
          return { body: await response.Body!.transformToByteArray(), metadata: response.Metadata ?? {} };
        } catch (error) {
          if (isNotFound(error)) throw objectNotFound(key);
          throw error;
        }
      });
      const expected = metadata.crc32c;
      if (expected === undefined) return body; // written by another tool: nothing to check against
      const got = crcHex(crc32c(body));
      if (got === expected) return body;
      if (attempt >= 1) {
        throw new HyperspaceError('data', `object checksum mismatch: key=${key} expected=${expected} got=${got} size=${body.length}`);
      }
    }
  }

  private async headObject(key: string): Promise<{ size: number; sha256?: string } | null> {
    return withRetries(`s3 head key=${key}`, async () => {
      try {
        const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
        return { size: Number(response.ContentLength ?? 0), sha256: response.Metadata?.sha256 };
      } catch (error) {
        if (isNotFound(error)) return null;
        throw error;
      }
    });
  }
}

/** The client config for an S3 endpoint: our own retries, no optional checksum headers. */
export function s3ClientConfig(options: Omit<S3ObjectStoreOptions, 'bucket'>): S3ClientConfig {
  const endpoint = options.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  return {
    region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    endpoint,
    forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
    credentials: options.credentials,
    maxAttempts: 1, // retries are ours (aws-errors.ts), so tests see every attempt
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { requestTimeout: 30_000, connectionTimeout: 5_000 },
  };
}

function isNotFound(error: unknown): boolean {
  const name = errorName(error);
  return name === 'NoSuchKey' || name === 'NotFound' || (httpStatus(error) === 404 && name !== 'NoSuchBucket');
}

function isPreconditionFailed(error: unknown): boolean {
  return httpStatus(error) === 412 || errorName(error) === 'PreconditionFailed';
}

function rangeError(key: string, offset: number, length: number, size: number): HyperspaceError {
  return new HyperspaceError('invalid', `range out of bounds: key=${key} offset=${offset} length=${length} size=${size}`);
}
