// The import pipeline shared by `hyperspace import` and `hyperspace demo`:
// batches from a PointSource go to Collection.upsert one at a time, with
// backoff while the indexer catches up, and engine errors about "point i" of a
// batch are renamed to the row or line in the file.
import { setTimeout as sleep } from 'node:timers/promises';
import { HyperspaceError, type Collection, type PointInput } from '../../engine/index.ts';
import type { PointSource, SourceBatch } from './readers.ts';
import { Progress } from './progress.ts';

// `overloaded` means the unindexed tail is full: wait for the background
// indexer (DESIGN §6), doubling the pause, for at most this long per batch.
const overloadedBackoffMsStart = 20;
const overloadedBackoffMsStep = 1000;
const overloadedWaitMsMax = 5 * 60 * 1000;

export async function upsertWithBackoff(collection: Collection, points: readonly PointInput[], onOverloaded?: () => void): Promise<void> {
  let pauseMs = overloadedBackoffMsStart;
  let waitedMs = 0;
  for (;;) {
    try {
      await collection.upsert(points);
      return;
    } catch (e) {
      if (!(e instanceof HyperspaceError) || e.kind !== 'overloaded' || waitedMs >= overloadedWaitMsMax) throw e;
      onOverloaded?.();
      await sleep(pauseMs);
      waitedMs += pauseMs;
      pauseMs = Math.min(overloadedBackoffMsStep, pauseMs * 2);
    }
  }
}

/** A rejected batch: the engine's error about `point i`, renamed to that point's row or line in the file. */
export function locateError(e: unknown, batch: SourceBatch, unit: PointSource['unit']): unknown {
  if (!(e instanceof HyperspaceError) || (e.kind !== 'invalid' && e.kind !== 'too_large')) return e;
  const match = /\bpoint (\d+)\b/.exec(e.message);
  const index = match ? Number(match[1]) : -1;
  const where = index >= 0 && index < batch.origins.length
    ? `${unit} ${batch.origins[index]}`
    : `${unit}s ${batch.origins[0]}..${batch.origins[batch.origins.length - 1]}`;
  return new HyperspaceError(e.kind, `${where}: ${e.message}`, { cause: e });
}

/**
 * Indexing during an import, run by the import itself rather than by the
 * database's background indexer, so the CLI can say what it waits for at the
 * end. Like the background indexer it folds the whole tail once it passes
 * `tailRecordsFlush`, one fold at a time, and never merges segments: a merge
 * rebuilds every segment and costs more than the import.
 */
export class ImportIndexer {
  private running: Promise<void> | undefined;
  private failure: unknown;
  /** Tail entries the running fold took. */
  runningCount = 0;

  constructor(private readonly collection: Collection, private readonly tailRecordsFlush: number) {}

  /** Start a fold if the tail is long enough and none is running; rethrows a failed fold's error. */
  poke(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.running) return;
    const tail = this.collection.describe().tailLength;
    if (tail < this.tailRecordsFlush) return;
    this.runningCount = tail;
    this.running = this.collection.flush().then(
      () => { this.running = undefined; },
      (e: unknown) => { this.running = undefined; this.failure = e; },
    );
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Wait for the running fold; rethrows a fold's failure. */
  async settle(): Promise<void> {
    await this.running;
    if (this.failure !== undefined) throw this.failure;
  }
}

export class ImportStopped extends Error {
  constructor(readonly cause: unknown, readonly imported: number) {
    super((cause as Error).message);
  }
}

/**
 * Upserts every batch of `source` (after `first`, a batch already taken from
 * it, if any). On an error the batch at fault is not stored; the error carries
 * how many points earlier batches stored.
 */
export async function importSource(
  collection: Collection,
  source: PointSource,
  progress: Progress,
  first?: IteratorResult<SourceBatch>,
  indexer?: ImportIndexer,
): Promise<{ count: number; seconds: number; rate: number }> {
  const iterator = source.batches[Symbol.asyncIterator]();
  let count = 0;
  try {
    for (let next = first ?? await iterator.next(); !next.done; next = await iterator.next()) {
      const batch = next.value;
      try {
        await upsertWithBackoff(collection, batch.points, () => indexer?.poke());
      } catch (e) {
        throw locateError(e, batch, source.unit);
      }
      indexer?.poke();
      count += batch.points.length;
      progress.update(count, batch.position);
    }
  } catch (e) {
    progress.finish();
    await iterator.return?.(undefined);
    await indexer?.settle().catch(() => undefined);
    throw new ImportStopped(e, count);
  }
  return progress.finish();
}
