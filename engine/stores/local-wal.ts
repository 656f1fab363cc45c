// One collection's write-ahead log on local disk: recovery, group commit,
// reads, truncation, idempotency keys. Format: docs/format/wal.md.
import { open, readdir, readFile, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { HyperspaceError } from '../../native/errors.ts';
// The hardware CRC-32C of the C++ core (same results as ./crc32c.ts, an order
// of magnitude faster): payload checksums are the WAL's main CPU cost
// (docs/format/wal.md "Checksum").
import { crc32c } from '../../native/index.ts';
import { limits } from '../limits.ts';
import {
  ensureDirectory,
  fsyncDirectory,
  isErrorCode,
  Mutex,
  readRecordFile,
  writeFileAtomic,
  writeRecordFile,
} from './local-files.ts';
import { IdempotencyKeys } from './idempotency-keys.ts';
import { assertPayload, readBound, truncatedError, truncatePastEndError } from './log-store-rules.ts';
import { assertSeq, type AppendOptions, type ReadOptions, type WalRecord } from './log-store.ts';
import {
  decodeRecord,
  damageError,
  encodeRecordHead,
  encodeSegmentHeader,
  parseSegmentFileName,
  scanSegment,
  segmentFileName,
  segmentHeaderBytes,
} from './wal-format.ts';

export interface WalStats {
  /** Segment files held open for appending, across collections. */
  openFiles: number;
  appends: number;
  groupCommits: number;
  /** Every fsync/fdatasync the WAL issued, file creation included. */
  fsyncs: number;
  bytesWritten: number;
  tornTailBytesTruncated: number;
}

interface Segment {
  path: string;
  firstSeq: number;
  /** Offset of each durable record; record i has seq firstSeq + i. */
  offsets: number[];
  /** End of the durable records. */
  size: number;
}

interface PendingAppend {
  payload: Uint8Array;
  key: Uint8Array | null;
  keyText: string | null;
  payloadCrc: number;
  resolve: (result: { seq: number }) => void;
  reject: (error: unknown) => void;
}

const stateFileName = 'state';

export class LocalWal {
  readonly collection: string;
  private readonly directory: string;
  private readonly stats: WalStats;
  private readonly segments: Segment[] = [];
  private lastDurableSeq = 0;
  private truncatedThroughSeq = 0;
  private readonly idempotency: IdempotencyKeys;
  private queue: PendingAppend[] = [];
  private queuedBytes = 0;
  private flushRunning: Promise<void> | null = null;
  private active: FileHandle | null = null;
  private failure: Error | null = null;
  private closed = false;
  /** Serializes group writes, truncation and close. */
  private readonly mutex = new Mutex();

  private constructor(collection: string, directory: string, stats: WalStats) {
    this.collection = collection;
    this.directory = directory;
    this.stats = stats;
    this.idempotency = new IdempotencyKeys(collection);
  }

  /** Recovers the log in `directory` (which need not exist yet). */
  static async open(collection: string, directory: string, stats: WalStats): Promise<LocalWal> {
    const wal = new LocalWal(collection, directory, stats);
    await wal.recover();
    return wal;
  }

  lastSeq(): number {
    return this.lastDurableSeq;
  }

  /** Closes the segment file if no append is in flight (it is reopened by the
   * next group); false if busy or already closed. */
  releaseFile(): boolean {
    if (!this.active || this.flushRunning || this.queue.length > 0) return false;
    const handle = this.active;
    this.active = null;
    this.stats.openFiles--;
    void this.mutex.run(() => handle.close()).catch(() => {});
    return true;
  }

  hasOpenFile(): boolean {
    return this.active !== null;
  }

  append(payload: Uint8Array, options: AppendOptions = {}): Promise<{ seq: number }> {
    this.assertWritable();
    assertPayload(this.collection, payload);
    const key = this.idempotency.encode(options.idempotencyKey);
    const keyText = key === null ? null : options.idempotencyKey!;
    const payloadCrc = crc32c(payload);
    if (keyText !== null) {
      const retried = this.idempotency.lookup(keyText, payloadCrc);
      if (retried) return retried;
    }
    if (this.queuedBytes + payload.length > limits.walAppendQueueBytesMax) {
      throw new HyperspaceError(
        'overloaded',
        `wal append queue is full: collection=${this.collection} queuedBytes=${this.queuedBytes} max=${limits.walAppendQueueBytesMax}`,
      );
    }
    const promise = new Promise<{ seq: number }>((resolve, reject) => {
      this.queue.push({ payload, key, keyText, payloadCrc, resolve, reject });
    });
    this.queuedBytes += payload.length;
    if (keyText !== null) this.idempotency.trackInFlight(keyText, promise, payloadCrc);
    this.scheduleFlush();
    return promise;
  }

  async read(fromSeq: number, options: ReadOptions = {}): Promise<WalRecord[]> {
    assertSeq('fromSeq', fromSeq, 1);
    const limit = readBound('limit', options.limit, limits.walReadRecordsMax);
    const bytesMax = readBound('bytesMax', options.bytesMax, limits.walReadBytesMax);
    this.assertNotTruncated(fromSeq);
    const lastSeq = this.lastDurableSeq;
    const records: WalRecord[] = [];
    let bytes = 0;
    let seq = fromSeq;
    while (seq <= lastSeq && records.length < limit) {
      const segment = this.segmentHolding(seq);
      const segmentLastSeq = Math.min(lastSeq, segment.firstSeq + segment.offsets.length - 1);
      const recordEnd = (s: number) => {
        const index = s - segment.firstSeq + 1;
        return index < segment.offsets.length ? segment.offsets[index] : segment.size;
      };
      const start = segment.offsets[seq - segment.firstSeq];
      let end = start;
      let last = seq - 1;
      let full = false;
      while (last < segmentLastSeq && records.length + (last - seq + 1) < limit) {
        const next = recordEnd(last + 1);
        if (records.length + (last - seq + 1) > 0 && bytes + (next - end) > bytesMax) {
          full = true;
          break;
        }
        bytes += next - end;
        last++;
        end = next;
      }
      const chunk = await this.readRange(segment, start, end - start, seq);
      for (let offset = 0, s = seq; s <= last; s++) {
        const decoded = decodeRecord(segment.path, chunk, offset, crc32c);
        if (typeof decoded === 'string') throw damageError(segment.path, start + offset, decoded);
        if (decoded.seq !== s) {
          throw new HyperspaceError(
            'data',
            `wal sequence gap: file=${segment.path} offset=${start + offset} expected=${s} got=${decoded.seq}`,
          );
        }
        records.push({ seq: s, payload: decoded.payload, appendedAtMs: decoded.appendedAtMs });
        offset += decoded.size;
      }
      seq = last + 1;
      if (full) break;
    }
    return records;
  }

  async truncateBefore(seq: number): Promise<void> {
    assertSeq('truncate seq', seq, 0);
    await this.mutex.run(async () => {
      if (seq > this.lastDurableSeq) throw truncatePastEndError(this.collection, seq, this.lastDurableSeq);
      if (seq <= this.truncatedThroughSeq) return;
      let removable = 0;
      while (removable < this.segments.length - 1 && this.segments[removable + 1].firstSeq - 1 <= seq) removable++;
      const keptFromSeq = this.segments[removable].firstSeq;
      // Keys of records in deleted segments live on in the state file.
      const keys = this.idempotency.below(keptFromSeq);
      await writeRecordFile(
        join(this.directory, stateFileName),
        {
          truncatedThroughSeq: seq,
          idempotency: keys.map(([key, e]) => [key, e.seq, e.payloadCrc, e.appendedAtMs]),
        },
        this.stats,
      );
      this.truncatedThroughSeq = seq;
      for (const segment of this.segments.splice(0, removable)) await unlink(segment.path).catch(() => {});
      if (removable > 0) await fsyncDirectory(this.directory, this.stats);
    });
  }

  /** Lets queued appends finish, then closes the file; later appends fail. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushRunning) await this.flushRunning;
    await this.mutex.run(() => this.closeActive());
  }

  private assertWritable(): void {
    if (this.failure) {
      throw new HyperspaceError(
        'unavailable',
        `wal failed after an I/O error, reopen the store: collection=${this.collection}: ${this.failure.message}`,
        { cause: this.failure },
      );
    }
    if (this.closed) throw new HyperspaceError('unavailable', `wal is closed: collection=${this.collection}`);
  }

  private assertNotTruncated(fromSeq: number): void {
    if (fromSeq <= this.truncatedThroughSeq) throw truncatedError(this.collection, fromSeq, this.truncatedThroughSeq);
  }

  private segmentHolding(seq: number): Segment {
    let low = 0;
    let high = this.segments.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.segments[middle].firstSeq <= seq) low = middle;
      else high = middle - 1;
    }
    return this.segments[low];
  }

  private async readRange(segment: Segment, offset: number, length: number, fromSeq: number): Promise<Uint8Array> {
    let handle: FileHandle;
    try {
      handle = await open(segment.path, 'r');
    } catch (error) {
      // truncateBefore may have deleted the segment meanwhile.
      if (isErrorCode(error, 'ENOENT')) this.assertNotTruncated(fromSeq);
      throw error;
    }
    try {
      const bytes = new Uint8Array(length);
      const { bytesRead } = await handle.read(bytes, 0, length, offset);
      if (bytesRead !== length) {
        throw new HyperspaceError('data', `wal segment shorter than recorded: file=${segment.path} offset=${offset}`);
      }
      return bytes;
    } finally {
      await handle.close();
    }
  }

  private scheduleFlush(): void {
    if (this.flushRunning) return;
    this.flushRunning = (async () => {
      // Everything appended in this event-loop turn joins the first group.
      await new Promise((resolve) => setImmediate(resolve));
      try {
        while (this.queue.length > 0) {
          const group = this.takeGroup();
          await this.mutex.run(() => this.writeGroup(group));
        }
      } finally {
        this.flushRunning = null;
      }
    })();
  }

  private takeGroup(): PendingAppend[] {
    let bytes = 0;
    let count = 0;
    while (count < this.queue.length && count < limits.walGroupCommitRecordsMax) {
      const size = this.queue[count].payload.length;
      if (count > 0 && bytes + size > limits.walGroupCommitBytesMax) break;
      bytes += size;
      count++;
    }
    const group = this.queue.slice(0, count);
    this.queue = this.queue.slice(count);
    this.queuedBytes -= bytes;
    return group;
  }

  /** Writes one group with one writev and one fdatasync; never throws. */
  private async writeGroup(group: PendingAppend[]): Promise<void> {
    if (this.failure) return this.rejectAll(group, this.failure);
    try {
      let segment = this.segments[this.segments.length - 1];
      const firstSeq = this.lastDurableSeq + 1;
      if (!this.active && segment && segment.size < limits.walSegmentBytesMax) await this.openActive(segment.path);
      if (!this.active || segment.size >= limits.walSegmentBytesMax) segment = await this.startSegment(firstSeq);
      const appendedAtMs = Date.now();
      const buffers: Uint8Array[] = [];
      const offsets: number[] = [];
      let position = segment.size;
      group.forEach((pending, index) => {
        const head = encodeRecordHead({
          seq: firstSeq + index,
          appendedAtMs,
          groupOffset: index,
          key: pending.key,
          payload: pending.payload,
          payloadCrc: pending.payloadCrc,
        });
        buffers.push(head, pending.payload);
        offsets.push(position);
        position += head.length + pending.payload.length;
      });
      const { bytesWritten } = await this.active!.writev(buffers, segment.size);
      if (bytesWritten !== position - segment.size) {
        throw new Error(`short write: expected=${position - segment.size} written=${bytesWritten}`);
      }
      await this.active!.datasync();
      this.stats.fsyncs++;
      this.stats.groupCommits++;
      this.stats.appends += group.length;
      this.stats.bytesWritten += bytesWritten;
      for (const offset of offsets) segment.offsets.push(offset);
      segment.size = position;
      this.lastDurableSeq = firstSeq + group.length - 1;
      group.forEach((pending, index) => {
        if (pending.keyText !== null) {
          this.idempotency.remember(pending.keyText, { seq: firstSeq + index, payloadCrc: pending.payloadCrc, appendedAtMs });
        }
      });
      group.forEach((pending, index) => pending.resolve({ seq: firstSeq + index }));
    } catch (error) {
      // After a failed write or fsync the page cache cannot be trusted
      // (docs/format/wal.md "Group commit"): fail this group and all later ones.
      this.failure = error instanceof Error ? error : new Error(String(error));
      this.rejectAll(group, this.failure);
    }
  }

  private rejectAll(group: PendingAppend[], cause: Error): void {
    const error = new HyperspaceError(
      'unavailable',
      `wal write failed, outcome unknown, reopen the store: collection=${this.collection}: ${cause.message}`,
      { cause },
    );
    const queued = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    for (const pending of [...group, ...queued]) pending.reject(error);
  }

  private async startSegment(firstSeq: number): Promise<Segment> {
    await ensureDirectory(this.directory, this.stats);
    await this.closeActive();
    const path = join(this.directory, segmentFileName(firstSeq));
    await writeFileAtomic(path, encodeSegmentHeader(firstSeq), this.stats);
    await this.openActive(path);
    const segment: Segment = { path, firstSeq, offsets: [], size: segmentHeaderBytes };
    this.segments.push(segment);
    return segment;
  }

  private async recover(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch (error) {
      if (isErrorCode(error, 'ENOENT')) return;
      throw error;
    }
    const state = (await readRecordFile(join(this.directory, stateFileName))) as {
      truncatedThroughSeq: number;
      idempotency: [string, number, number, number][];
    } | null;
    if (state) {
      this.truncatedThroughSeq = state.truncatedThroughSeq;
      for (const [key, seq, payloadCrc, appendedAtMs] of state.idempotency) {
        this.idempotency.remember(key, { seq, payloadCrc, appendedAtMs });
      }
    }
    for (const name of names) {
      if (name.includes('.tmp-')) await unlink(join(this.directory, name)).catch(() => {});
    }
    const firstSeqs = names
      .map(parseSegmentFileName)
      .filter((firstSeq): firstSeq is number => firstSeq !== null)
      .sort((a, b) => a - b);
    // Finish a truncation that crashed before deleting its segments.
    while (firstSeqs.length > 1 && firstSeqs[1] - 1 <= this.truncatedThroughSeq) {
      await unlink(join(this.directory, segmentFileName(firstSeqs.shift()!)));
    }
    if (firstSeqs.length === 0) {
      if (this.truncatedThroughSeq > 0) {
        throw new HyperspaceError(
          'data',
          `wal segments missing: collection=${this.collection} directory=${this.directory} truncatedThroughSeq=${this.truncatedThroughSeq}`,
        );
      }
      return;
    }
    let expectedFirstSeq = firstSeqs[0];
    if (expectedFirstSeq > this.truncatedThroughSeq + 1) {
      throw new HyperspaceError(
        'data',
        `wal segments missing: collection=${this.collection} directory=${this.directory} firstSeq=${expectedFirstSeq} truncatedThroughSeq=${this.truncatedThroughSeq}`,
      );
    }
    for (let i = 0; i < firstSeqs.length; i++) {
      const path = join(this.directory, segmentFileName(firstSeqs[i]));
      if (firstSeqs[i] !== expectedFirstSeq) {
        throw new HyperspaceError(
          'data',
          `wal sequence gap: file=${path} offset=0 expected=${expectedFirstSeq} got=${firstSeqs[i]}`,
        );
      }
      const isLast = i === firstSeqs.length - 1;
      const bytes = await readFile(path);
      const scanned = scanSegment(path, bytes, firstSeqs[i], isLast, crc32c);
      if (scanned.validBytes < bytes.length) {
        // The unfinished last group: never acknowledged, cut it off.
        await truncate(path, scanned.validBytes);
        const handle = await open(path, 'r+');
        await handle.sync().finally(() => handle.close());
        this.stats.fsyncs++;
        this.stats.tornTailBytesTruncated += bytes.length - scanned.validBytes;
      }
      for (const record of scanned.records) {
        if (record.key !== null) {
          this.idempotency.remember(record.key, {
            seq: record.seq,
            payloadCrc: record.payloadCrc,
            appendedAtMs: record.appendedAtMs,
          });
        }
      }
      this.segments.push({ path, firstSeq: firstSeqs[i], offsets: scanned.offsets, size: scanned.validBytes });
      expectedFirstSeq = firstSeqs[i] + scanned.records.length;
    }
    this.lastDurableSeq = expectedFirstSeq - 1;
    this.idempotency.forgetExpired(Date.now());
    // The last segment is opened by the first group written, so readers hold no file.
  }

  private async openActive(path: string): Promise<void> {
    this.active = await open(path, 'r+');
    this.stats.openFiles++;
  }

  private async closeActive(): Promise<void> {
    const handle = this.active;
    if (!handle) return;
    this.active = null;
    this.stats.openFiles--;
    await handle.close();
  }
}
