// Bulk import into a deployment on AWS, past the function URL's 6 MB request
// limit (docs/aws.md "Importing more than 6 MB"): run on any machine with AWS
// credentials that may write the stack's bucket and table, it streams a JSONL
// or fvecs file — local, or an object in S3 (`s3://bucket/key`, downloaded to
// a temporary file first) — in batches straight into the collection's WAL on
// DynamoDB (bodies over 32 KiB spill to S3, docs/format/dynamodb.md). The
// stream indexer Lambda folds the batches into segments as they land; when the
// unindexed tail is full the import waits for it (`overloaded`), refreshing to
// the indexer's manifest.
//
//   HYPERSPACE_BUCKET=<bucket> HYPERSPACE_TABLE=<table> npm run import:aws -- docs s3://my-bucket/docs.jsonl
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { HyperspaceDB, HyperspaceError } from '../engine/index.ts';
import { s3ClientConfig } from '../engine/stores/s3-object-store.ts';
import { locateError, upsertWithBackoff } from './cli/import.ts';
import { fvecsSource, jsonlSource } from './cli/readers.ts';
import type { Stores } from './lambda/indexing.ts';

export interface AwsImportOptions {
  stores: Stores;
  collection: string;
  /** A local path or `s3://bucket/key`. */
  source: string;
  format?: 'jsonl' | 'fvecs';
  batch?: number;
  /** For the download of an `s3://` source (tests pass the emulator's). */
  s3?: S3Client;
  progress?: (imported: number) => void;
}

export async function importToDeployment(options: AwsImportOptions): Promise<{ imported: number; lastSeq: number }> {
  const batchSize = options.batch ?? 1000;
  const scratch = await mkdtemp(join(tmpdir(), 'hyperspace-import-'));
  const db = await HyperspaceDB.open(options.stores, { indexer: false, leases: false, collections: [options.collection] });
  try {
    const path = options.source.startsWith('s3://') ? await download(options.source, scratch, options.s3) : options.source;
    const format = options.format ?? (extname(path) === '.fvecs' ? 'fvecs' : 'jsonl');
    const source = format === 'fvecs' ? await fvecsSource(path, batchSize) : await jsonlSource(path, batchSize);
    const collection = db.collection(options.collection);
    let imported = 0;
    for await (const batch of source.batches) {
      try {
        await upsertWithBackoff(collection, batch.points, () => void db.refresh(options.collection).catch(() => undefined));
      } catch (e) {
        throw locateError(e, batch, source.unit);
      }
      imported += batch.points.length;
      options.progress?.(imported);
    }
    return { imported, lastSeq: collection.describe().lastSeq };
  } finally {
    await db.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

async function download(url: string, directory: string, client?: S3Client): Promise<string> {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
  if (!match) throw new HyperspaceError('invalid', `S3 source must be s3://bucket/key, got ${JSON.stringify(url)}`);
  const s3 = client ?? new S3Client(s3ClientConfig({}));
  const { Body } = await s3.send(new GetObjectCommand({ Bucket: match[1], Key: match[2] }));
  if (!Body) throw new HyperspaceError('not_found', `S3 object has no body: ${url}`);
  const path = join(directory, `source${extname(match[2])}`);
  await pipeline(Body as Readable, createWriteStream(path));
  return path;
}

async function main(argv: string[]): Promise<void> {
  const [collection, source, ...rest] = argv;
  if (!collection || !source) {
    process.stderr.write('usage: npm run import:aws -- COLLECTION FILE|s3://BUCKET/KEY [--format jsonl|fvecs] [--batch 1000]\n' +
      '  with HYPERSPACE_BUCKET and HYPERSPACE_TABLE set to the stack outputs (sst deploy prints them)\n');
    process.exit(2);
  }
  const option = (name: string) => {
    const i = rest.indexOf(`--${name}`);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  const { environmentStores } = await import('./lambda/environment.ts');
  const stores = await environmentStores()();
  const startedAt = Date.now();
  try {
    const { imported, lastSeq } = await importToDeployment({
      stores, collection, source, format: option('format') as 'jsonl' | 'fvecs' | undefined,
      batch: option('batch') === undefined ? undefined : Number(option('batch')),
      progress: (n) => process.stderr.write(`\rimported ${n} points`),
    });
    process.stderr.write(`\nimported ${imported} points into ${collection} in ${((Date.now() - startedAt) / 1000).toFixed(1)} s (last seq ${lastSeq}); the indexer folds them into segments\n`);
  } catch (e) {
    process.stderr.write(`\nerror (${e instanceof HyperspaceError ? e.kind : 'internal'}): ${(e as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    await stores.log.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
