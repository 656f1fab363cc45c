// The LogStore on one DynamoDB table (DESIGN §3): WAL groups with dense seqs
// by conditional transactions, manifest pointer and lease in one control item,
// the collection catalog, idempotency keys with TTL. Every rule here is in
// docs/format/dynamodb.md; the shared decisions are log-store-rules.ts.
import { randomBytes } from 'node:crypto';
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  UpdateTimeToLiveCommand,
  type AttributeValue,
  type DynamoDBClientConfig,
  type QueryCommandInput,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { HyperspaceError } from '../../native/errors.ts';
import { crc32c } from '../../native/index.ts';
import { limits } from '../limits.ts';
import { sha256 } from '../sha256.ts';
import { backoffMs, errorName, isThrottling, isTransient, sleep, unavailable, withRetries } from './aws-errors.ts';
import { decodeGroupBody, encodeGroupBody } from './dynamo-wal-group.ts';
import { IdempotencyKeys } from './idempotency-keys.ts';
import {
  assertCollectionConfig,
  assertConfigPutAllowed,
  assertLeaseRequest,
  assertPayload,
  assertPointerSwap,
  nextLease,
  pointerSwapAllowed,
  readBound,
  truncatedError,
  truncatePastEndError,
  type LeaseRecord,
} from './log-store-rules.ts';
import {
  assertCollectionName,
  assertSeq,
  type AppendOptions,
  type CasOptions,
  type Lease,
  type LogStore,
  type ManifestPointer,
  type ReadOptions,
  type WalRecord,
} from './log-store.ts';
import type { ObjectStore } from './object-store.ts';

export interface DynamoLogStoreOptions {
  table: string;
  /** Where group bodies over the inline limit go (the deployment's bucket). */
  objects: ObjectStore;
  /** A ready client (tests wrap its `send`); otherwise one is made from the fields below. */
  client?: DynamoDBClient;
  region?: string;
  /** Default: `AWS_ENDPOINT_URL_DYNAMODB`, then `AWS_ENDPOINT_URL`, then AWS. */
  endpoint?: string;
  credentials?: DynamoDBClientConfig['credentials'];
  /** Bodies above this many bytes are spilled (default `limits.dynamoWalInlineBytesMax`). */
  inlineBytesMax?: number;
}

type Item = Record<string, AttributeValue>;

/** Counters since the store was made (metrics, benchmarks). */
export interface DynamoWalStats {
  /** Group transactions that committed, and the appends they carried. */
  groups: number;
  appends: number;
  /** Groups whose body went to the object store. */
  spilledGroups: number;
  /** Commits retried after losing the race on the head (another writer moved it). */
  lostRaces: number;
  /** Outcomes that were unknown and read back. */
  readBacks: number;
}

interface Head {
  exists: boolean;
  incarnation: number;
  lastSeq: number;
  truncatedThroughSeq: number;
}

interface Control {
  pointer: ManifestPointer | null;
  lease: LeaseRecord | null;
}

interface PendingAppend {
  payload: Uint8Array;
  payloadCrc: number;
  key: Uint8Array | null;
  keyText: string | null;
  resolve(result: { seq: number }): void;
  reject(error: unknown): void;
}

interface WalWriter {
  queue: PendingAppend[];
  queuedBytes: number;
  flushing: Promise<void> | null;
  /** The head as this writer last saw it; null: read it before the next group. */
  head: Head | null;
  keys: IdempotencyKeys;
}

/** A group's body, made once per membership (its spill object is content-addressed). */
interface PreparedGroup {
  members: PendingAppend[];
  groupId: string;
  body: Uint8Array;
  bodyCrc: number;
  spillKey: string | null;
}

const s = (value: string): AttributeValue => ({ S: value });
const n = (value: number): AttributeValue => ({ N: String(value) });
const num = (value: AttributeValue | undefined): number => Number(value?.N ?? 0);
const seqKey = (seq: number) => String(seq).padStart(16, '0');
const headKey = (collection: string): Item => ({ pk: s(`col#${collection}`), sk: s('head') });
const controlKey = (collection: string): Item => ({ pk: s(`col#${collection}`), sk: s('control') });
const catalogKey = (name: string): Item => ({ pk: s('catalog'), sk: s(name) });
const walPartition = (collection: string, incarnation: number) => `wal#${collection}#${incarnation}`;
const keyPartition = (collection: string, incarnation: number) => `key#${collection}#${incarnation}`;
const TRANSACT_CANCELED = 'TransactionCanceledException';
/** Spilled bodies a read fetches ahead of the group it decodes. */
const SPILL_READ_AHEAD = 4;
const CONDITION_FAILED = 'ConditionalCheckFailedException';

export class DynamoLogStore implements LogStore {
  readonly table: string;
  readonly client: DynamoDBClient;
  private readonly objects: ObjectStore;
  private readonly ownsClient: boolean;
  private readonly inlineBytesMax: number;
  private readonly writers = new Map<string, WalWriter>();
  private closed = false;
  readonly stats: DynamoWalStats = { groups: 0, appends: 0, spilledGroups: 0, lostRaces: 0, readBacks: 0 };

  constructor(options: DynamoLogStoreOptions) {
    if (typeof options.table !== 'string' || options.table === '') {
      throw new HyperspaceError('invalid', 'DynamoDB log store needs a table name');
    }
    this.table = options.table;
    this.objects = options.objects;
    this.inlineBytesMax = options.inlineBytesMax ?? limits.dynamoWalInlineBytesMax;
    this.ownsClient = options.client === undefined;
    this.client = options.client ?? new DynamoDBClient(dynamoClientConfig(options));
  }

  // ---- WAL -------------------------------------------------------------

  append(collection: string, payload: Uint8Array, options: AppendOptions = {}): Promise<{ seq: number }> {
    this.assertOpen();
    assertCollectionName(collection);
    assertPayload(collection, payload);
    const writer = this.writer(collection);
    const key = writer.keys.encode(options.idempotencyKey);
    const keyText = key === null ? null : options.idempotencyKey!;
    const payloadCrc = crc32c(payload) >>> 0;
    if (keyText !== null) {
      const retried = writer.keys.lookup(keyText, payloadCrc);
      if (retried) return retried;
    }
    if (writer.queuedBytes + payload.length > limits.walAppendQueueBytesMax) {
      throw new HyperspaceError(
        'overloaded',
        `wal append queue is full: collection=${collection} queuedBytes=${writer.queuedBytes} max=${limits.walAppendQueueBytesMax}`,
      );
    }
    const promise = new Promise<{ seq: number }>((resolve, reject) => {
      writer.queue.push({ payload: payload.slice(), payloadCrc, key, keyText, resolve, reject });
    });
    writer.queuedBytes += payload.length;
    if (keyText !== null) writer.keys.trackInFlight(keyText, promise, payloadCrc);
    this.scheduleFlush(collection, writer);
    return promise;
  }

  async read(collection: string, fromSeq: number, options: ReadOptions = {}): Promise<WalRecord[]> {
    this.assertOpen();
    assertCollectionName(collection);
    assertSeq('fromSeq', fromSeq, 1);
    const limit = readBound('limit', options.limit, limits.walReadRecordsMax);
    const bytesMax = readBound('bytesMax', options.bytesMax, limits.walReadBytesMax);
    const head = await this.readHead(collection);
    if (fromSeq <= head.truncatedThroughSeq) throw truncatedError(collection, fromSeq, head.truncatedThroughSeq);
    if (fromSeq > head.lastSeq) return [];
    const partition = walPartition(collection, head.incarnation);
    const result: WalRecord[] = [];
    let bytes = 0;
    /** Adds a group's records from `fromSeq`; false once the budget is spent. */
    const take = async (item: Item, body?: Uint8Array): Promise<boolean> => {
      const group = this.decodeGroup(collection, item, body ?? (await this.groupBody(collection, item)));
      for (let i = 0; i < group.records.length; i++) {
        const seq = group.firstSeq + i;
        if (seq < fromSeq) continue;
        const payload = group.records[i].payload;
        if (result.length >= limit || (result.length > 0 && bytes + payload.length > bytesMax)) return false;
        bytes += payload.length;
        result.push({ seq, payload, appendedAtMs: group.appendedAtMs });
      }
      return true;
    };
    // The group holding fromSeq starts at or before it: the last item with sk ≤ fromSeq.
    const [containing] = (
      await this.query({
        KeyConditionExpression: 'pk = :pk AND sk <= :sk',
        ExpressionAttributeValues: { ':pk': s(partition), ':sk': s(seqKey(fromSeq)) },
        ScanIndexForward: false,
        Limit: 1,
      })
    ).items;
    if (!containing || num(containing.firstSeq) + num(containing.count) <= fromSeq) {
      throw new HyperspaceError('data', `wal group missing: collection=${collection} seq=${fromSeq} lastSeq=${head.lastSeq}`);
    }
    if (!(await take(containing))) return result;
    let start: Item | undefined = { pk: containing.pk, sk: containing.sk };
    while (start) {
      const page = await this.query({
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': s(partition) },
        ExclusiveStartKey: start,
        Limit: Math.max(1, Math.min(100, limit - result.length)),
      });
      // Spilled bodies are fetched a few groups ahead of the one being decoded.
      const bodies: Promise<Uint8Array>[] = [];
      const body = (i: number) => (bodies[i] ??= this.groupBody(collection, page.items[i]));
      try {
        for (let i = 0; i < page.items.length; i++) {
          for (let j = i; j < Math.min(page.items.length, i + SPILL_READ_AHEAD); j++) void body(j).catch(() => undefined);
          if (!(await take(page.items[i], await body(i)))) return result;
        }
      } finally {
        for (const pending of bodies) void pending?.catch(() => undefined);
      }
      start = page.lastKey;
    }
    return result;
  }

  async lastSeq(collection: string): Promise<number> {
    this.assertOpen();
    assertCollectionName(collection);
    return (await this.readHead(collection)).lastSeq;
  }

  async truncateBefore(collection: string, seq: number): Promise<void> {
    this.assertOpen();
    assertCollectionName(collection);
    assertSeq('truncate seq', seq, 0);
    for (let attempt = 0; ; attempt++) {
      const head = await this.readHead(collection);
      if (seq > head.lastSeq) throw truncatePastEndError(collection, seq, head.lastSeq);
      if (seq <= head.truncatedThroughSeq) return this.deleteGroupsThrough(collection, head.incarnation, head.truncatedThroughSeq);
      try {
        await this.send(
          `truncate wal collection=${collection}`,
          new UpdateItemCommand({
            TableName: this.table,
            Key: headKey(collection),
            UpdateExpression: 'SET truncatedThroughSeq = :seq',
            ConditionExpression: 'incarnation = :incarnation AND lastSeq >= :seq AND truncatedThroughSeq < :seq',
            ExpressionAttributeValues: { ':seq': n(seq), ':incarnation': n(head.incarnation) },
          }),
          true,
        );
      } catch (error) {
        // Raising a watermark is idempotent: on a race, look again.
        if (errorName(error) === CONDITION_FAILED && attempt < limits.dynamoAppendAttemptsMax) continue;
        throw error;
      }
      return this.deleteGroupsThrough(collection, head.incarnation, seq);
    }
  }

  // ---- manifest pointer and lease (the control item) -------------------

  async getPointer(collection: string): Promise<ManifestPointer | null> {
    this.assertOpen();
    assertCollectionName(collection);
    return (await this.readControl(collection)).pointer;
  }

  async casPointer(
    collection: string,
    expectedVersion: number | null,
    next: ManifestPointer,
    options: CasOptions = {},
  ): Promise<boolean> {
    this.assertOpen();
    assertPointerSwap(collection, expectedVersion, next, options);
    for (let attempt = 0; attempt < limits.dynamoAppendAttemptsMax; attempt++) {
      const control = await this.readControl(collection);
      if (!pointerSwapAllowed(collection, control.pointer, control.lease, expectedVersion, next, options)) return false;
      const values: Item = { ':version': n(next.version), ':key': s(next.key) };
      const conditions = [expectedVersion === null ? 'attribute_not_exists(pointerVersion)' : 'pointerVersion = :expected'];
      if (expectedVersion !== null) values[':expected'] = n(expectedVersion);
      if (options.epoch !== undefined) {
        conditions.push('(attribute_not_exists(leaseEpoch) OR leaseEpoch <= :epoch)');
        values[':epoch'] = n(options.epoch);
      }
      const swapped = await this.conditionalUpdate(`cas pointer collection=${collection}`, {
        Key: controlKey(collection),
        UpdateExpression: 'SET pointerVersion = :version, pointerKey = :key',
        ConditionExpression: conditions.join(' AND '),
        ExpressionAttributeValues: values,
      }, () => this.pointerIs(collection, next));
      if (swapped) return true;
      // Someone moved the pointer or the lease between our read and write: decide again.
    }
    throw new HyperspaceError('overloaded', `manifest pointer is contended: collection=${collection}`);
  }

  async acquireLease(collection: string, owner: string, ttlMs: number): Promise<Lease> {
    this.assertOpen();
    assertLeaseRequest(collection, owner, ttlMs);
    for (let attempt = 0; attempt < limits.dynamoAppendAttemptsMax; attempt++) {
      const { lease: current } = await this.readControl(collection);
      const lease = nextLease(collection, current, owner, ttlMs, Date.now());
      const values: Item = { ':epoch': n(lease.epoch), ':owner': s(lease.owner), ':expires': n(lease.expiresAtMs) };
      let condition = 'attribute_not_exists(leaseEpoch)';
      if (current) {
        condition = 'leaseEpoch = :currentEpoch AND leaseOwner = :currentOwner AND leaseExpiresAtMs = :currentExpires';
        Object.assign(values, { ':currentEpoch': n(current.epoch), ':currentOwner': s(current.owner), ':currentExpires': n(current.expiresAtMs) });
      }
      const taken = await this.conditionalUpdate(`acquire lease collection=${collection}`, {
        Key: controlKey(collection),
        UpdateExpression: 'SET leaseEpoch = :epoch, leaseOwner = :owner, leaseExpiresAtMs = :expires',
        ConditionExpression: condition,
        ExpressionAttributeValues: values,
      }, async () => {
        const now = (await this.readControl(collection)).lease;
        return now?.epoch === lease.epoch && now.owner === owner && now.expiresAtMs === lease.expiresAtMs;
      });
      if (taken) return { epoch: lease.epoch };
    }
    throw new HyperspaceError('overloaded', `lease is contended: collection=${collection}`);
  }

  async releaseLease(collection: string, owner: string, epoch: number): Promise<void> {
    this.assertOpen();
    assertCollectionName(collection);
    await this.conditionalUpdate(`release lease collection=${collection}`, {
      Key: controlKey(collection),
      UpdateExpression: 'SET leaseOwner = :empty, leaseExpiresAtMs = :zero',
      ConditionExpression: 'leaseOwner = :owner AND leaseEpoch = :epoch',
      ExpressionAttributeValues: { ':empty': s(''), ':zero': n(0), ':owner': s(owner), ':epoch': n(epoch) },
    }, async () => {
      const lease = (await this.readControl(collection)).lease;
      return !(lease?.owner === owner && lease.epoch === epoch);
    });
  }

  // ---- collection catalog ---------------------------------------------

  async putCollectionConfig(name: string, json: string, options: { ifAbsent?: boolean } = {}): Promise<void> {
    this.assertOpen();
    assertCollectionConfig(name, json);
    const exists = (await this.getItem(catalogKey(name), 'sk')) !== null;
    await assertConfigPutAllowed(name, exists, () => this.countCollections(), options);
    try {
      await this.send(
        `put collection config name=${name}`,
        new PutItemCommand({
          TableName: this.table,
          Item: { ...catalogKey(name), config: s(json) },
          ConditionExpression: options.ifAbsent ? 'attribute_not_exists(pk)' : undefined,
        }),
        !options.ifAbsent,
      );
    } catch (error) {
      if (errorName(error) !== CONDITION_FAILED) throw error;
      throw new HyperspaceError('conflict', `collection already exists: name=${name}`);
    }
  }

  async getCollectionConfig(name: string): Promise<string | null> {
    this.assertOpen();
    assertCollectionName(name);
    return (await this.getItem(catalogKey(name)))?.config?.S ?? null;
  }

  async listCollections(): Promise<string[]> {
    this.assertOpen();
    const names: string[] = [];
    let start: Item | undefined;
    do {
      const page = await this.query({
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': s('catalog') },
        ProjectionExpression: 'sk',
        ExclusiveStartKey: start,
      });
      for (const item of page.items) names.push(item.sk.S!);
      start = page.lastKey;
    } while (start);
    return names.sort();
  }

  async dropCollection(name: string): Promise<boolean> {
    this.assertOpen();
    assertCollectionName(name);
    const [catalog, head, control] = await Promise.all([
      this.getItem(catalogKey(name), 'sk'),
      this.readHead(name),
      this.readControl(name),
    ]);
    const existed = catalog !== null;
    // Nothing to drop (never created, or already dropped): no second fencing bump.
    if (!existed && head.lastSeq === 0 && control.pointer === null) return false;
    // The commit point of the drop: config and pointer gone, a new WAL
    // incarnation, the lease epoch bumped (fencing the old indexer), atomically.
    await this.send(
      `drop collection name=${name}`,
      new TransactWriteItemsCommand({
        TransactItems: [
          { Delete: { TableName: this.table, Key: catalogKey(name) } },
          {
            Update: {
              TableName: this.table,
              Key: headKey(name),
              UpdateExpression: 'SET incarnation = if_not_exists(incarnation, :zero) + :one, lastSeq = :zero, truncatedThroughSeq = :zero',
              ExpressionAttributeValues: { ':zero': n(0), ':one': n(1) },
            },
          },
          {
            Update: {
              TableName: this.table,
              Key: controlKey(name),
              UpdateExpression:
                'SET leaseEpoch = if_not_exists(leaseEpoch, :zero) + :one, leaseOwner = :empty, leaseExpiresAtMs = :zero REMOVE pointerVersion, pointerKey',
              ExpressionAttributeValues: { ':zero': n(0), ':one': n(1), ':empty': s('') },
            },
          },
        ],
      }),
      false,
    );
    const writer = this.writers.get(name);
    if (writer) writer.head = null;
    // The dead incarnation's items: nothing reads them any more; a crash here
    // leaves garbage for GC (docs/format/dynamodb.md "Left to GC").
    await this.deletePartition(walPartition(name, head.incarnation), true).catch(() => undefined);
    await this.deletePartition(keyPartition(name, head.incarnation), false).catch(() => undefined);
    return existed;
  }

  /** Waits for the groups in flight, then refuses further calls. */
  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.writers.values()].map((writer) => writer.flushing?.catch(() => undefined)));
    this.closed = true;
    if (this.ownsClient) this.client.destroy();
  }

  // ---- group commit ----------------------------------------------------

  private writer(collection: string): WalWriter {
    let writer = this.writers.get(collection);
    if (!writer) {
      writer = { queue: [], queuedBytes: 0, flushing: null, head: null, keys: new IdempotencyKeys(collection) };
      this.writers.set(collection, writer);
    }
    return writer;
  }

  private scheduleFlush(collection: string, writer: WalWriter): void {
    if (writer.flushing) return;
    writer.flushing = (async () => {
      // Everything appended in this event-loop turn joins the first group.
      await new Promise((resolve) => setImmediate(resolve));
      try {
        while (writer.queue.length > 0) await this.commitGroup(collection, writer, this.takeGroup(writer));
      } finally {
        writer.flushing = null;
      }
    })();
  }

  private takeGroup(writer: WalWriter): PendingAppend[] {
    let bytes = 0;
    let keys = 0;
    let count = 0;
    while (count < writer.queue.length && count < limits.walGroupCommitRecordsMax) {
      const pending = writer.queue[count];
      if (count > 0 && bytes + pending.payload.length > limits.walGroupCommitBytesMax) break;
      if (pending.key !== null && keys === limits.dynamoWalGroupKeysMax) break;
      bytes += pending.payload.length;
      if (pending.key !== null) keys++;
      count++;
    }
    const group = writer.queue.splice(0, count);
    writer.queuedBytes -= bytes;
    return group;
  }

  /**
   * Commits one group: head update + group item + key items in one transaction
   * (docs/format/dynamodb.md "Dense sequence numbers"). Never throws: every
   * member is resolved with its seq or rejected.
   */
  private async commitGroup(collection: string, writer: WalWriter, group: PendingAppend[]): Promise<void> {
    let members = group;
    let prepared: PreparedGroup | null = null;
    /** The transaction last sent whose outcome is not known yet, to resend unchanged. */
    let resend: { head: Head; firstSeq: number; command: TransactWriteItemsCommand } | null = null;
    const fail = (error: unknown) => {
      for (const pending of members) pending.reject(error);
    };
    const startedMs = Date.now();
    // Lost races are bounded by time (another writer made progress each time),
    // everything else by attempts.
    for (let attempt = 0; members.length > 0; attempt++) {
      if (attempt >= limits.dynamoAppendAttemptsMax || Date.now() - startedMs > limits.dynamoAppendRaceMsMax) {
        return fail(new HyperspaceError('overloaded', `wal append lost the race too often: collection=${collection} attempts=${attempt} ms=${Date.now() - startedMs}; retry later`));
      }
      let head: Head;
      let firstSeq: number;
      let command: TransactWriteItemsCommand;
      /** A copy of this very transaction was sent before and may have applied. */
      const resent = resend !== null;
      try {
        if (resend) {
          ({ head, firstSeq, command } = resend);
        } else {
          head = writer.head ?? (await this.readHead(collection));
          writer.head = head;
          if (prepared?.members !== members) prepared = await this.prepareGroup(collection, members);
          firstSeq = head.lastSeq + 1;
          command = this.groupTransaction(collection, head, firstSeq, prepared);
        }
      } catch (error) {
        return fail(error); // nothing was written for this group
      }
      resend = null;
      let outcome: 'applied' | 'lost' | 'ambiguous';
      try {
        await this.client.send(command);
        outcome = 'applied';
      } catch (error) {
        const reasons = errorName(error) === TRANSACT_CANCELED ? cancellationCodes(error) : null;
        if (reasons) {
          const keyConflicts = reasons.slice(2).flatMap((code, i) => (code === 'ConditionalCheckFailed' ? [i] : []));
          const current = reasons[0] === 'ConditionalCheckFailed' ? headFromCancellation(error) : undefined;
          if (current?.lastGroupId === prepared!.groupId) {
            outcome = 'applied'; // a copy of ours applied first (a resend or a duplicate on the way)
          } else if (reasons[0] === 'ConditionalCheckFailed' && !resent) {
            // Another writer moved the head: it came back with the failure, retry at once.
            this.stats.lostRaces++;
            writer.head = current?.head ?? null;
            attempt--;
            continue;
          } else if (reasons[0] === 'ConditionalCheckFailed' || reasons[1] === 'ConditionalCheckFailed') {
            outcome = 'ambiguous'; // an earlier copy of ours may have applied: read back
          } else if (keyConflicts.length > 0) {
            try {
              members = await this.settleRetriedKeys(collection, head, members, keyConflicts);
            } catch (lookupError) {
              return fail(lookupError);
            }
            continue;
          } else {
            outcome = 'lost'; // TransactionConflict or throttling on an item: nothing applied
          }
        } else if (isThrottling(error) || errorName(error) === 'TransactionConflictException') {
          outcome = 'lost';
        } else if (isTransient(error)) {
          outcome = 'ambiguous';
        } else {
          return fail(toStoreError(`wal append collection=${collection}`, error));
        }
      }
      if (outcome === 'ambiguous') {
        this.stats.readBacks++;
        let seen: { applied: boolean; head: Head };
        try {
          seen = await this.readBack(collection, firstSeq, head.incarnation, prepared!.groupId);
        } catch (error) {
          return fail(
            new HyperspaceError('unavailable', `wal append outcome unknown, retry with the idempotency key: collection=${collection}: ${(error as Error).message}`, { cause: error }),
          );
        }
        if (seen.applied) outcome = 'applied';
        else if (sameHead(seen.head, head)) {
          // Not applied yet; the identical transaction applies at most once.
          resend = { head, firstSeq, command };
          await sleep(backoffMs(Math.min(attempt, 6)));
          continue;
        } else {
          writer.head = seen.head; // it never can apply: the head it names is gone
          this.stats.lostRaces++;
          continue;
        }
      }
      if (outcome === 'lost') {
        this.stats.lostRaces++;
        writer.head = null;
        await sleep(backoffMs(Math.min(attempt, 6)));
        continue;
      }
      writer.head = { exists: true, incarnation: head.incarnation, lastSeq: firstSeq + members.length - 1, truncatedThroughSeq: head.truncatedThroughSeq };
      this.stats.groups++;
      this.stats.appends += members.length;
      if (prepared!.spillKey !== null) this.stats.spilledGroups++;
      members.forEach((pending, i) => pending.resolve({ seq: firstSeq + i }));
      return;
    }
  }

  private async prepareGroup(collection: string, members: PendingAppend[]): Promise<PreparedGroup> {
    const id = randomBytes(16);
    const body = encodeGroupBody(id, members);
    const bodyCrc = crc32c(body) >>> 0;
    let spillKey: string | null = null;
    if (body.length > this.inlineBytesMax) {
      spillKey = `collections/${collection}/wal/${Buffer.from(sha256(body)).toString('hex')}.walg`;
      await this.objects.put(spillKey, body);
    }
    return { members, groupId: id.toString('hex'), body, bodyCrc, spillKey };
  }

  private groupTransaction(collection: string, head: Head, firstSeq: number, group: PreparedGroup): TransactWriteItemsCommand {
    const lastSeq = firstSeq + group.members.length - 1;
    const now = Date.now();
    const headValues: Item = { ':last': n(lastSeq), ':incarnation': n(head.incarnation), ':zero': n(0), ':group': s(group.groupId) };
    if (head.exists) headValues[':previous'] = n(head.lastSeq);
    const items: TransactWriteItem[] = [
      {
        Update: {
          TableName: this.table,
          Key: headKey(collection),
          UpdateExpression:
            'SET lastSeq = :last, incarnation = :incarnation, lastGroupId = :group, truncatedThroughSeq = if_not_exists(truncatedThroughSeq, :zero)',
          ConditionExpression: head.exists ? 'lastSeq = :previous AND incarnation = :incarnation' : 'attribute_not_exists(pk)',
          ExpressionAttributeValues: headValues,
          // A loser learns the new head from the failure itself, without a read.
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
      {
        Put: {
          TableName: this.table,
          Item: {
            pk: s(walPartition(collection, head.incarnation)),
            sk: s(seqKey(firstSeq)),
            v: n(1),
            firstSeq: n(firstSeq),
            count: n(group.members.length),
            appendedAtMs: n(now),
            groupId: s(group.groupId),
            bodyBytes: n(group.body.length),
            bodyCrc: n(group.bodyCrc),
            ...(group.spillKey === null ? { body: { B: group.body } } : { spillKey: s(group.spillKey) }),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
    ];
    const expiresAt = Math.ceil((now + limits.walIdempotencyWindowMs) / 1000);
    group.members.forEach((pending, i) => {
      if (pending.keyText === null) return;
      items.push({
        Put: {
          TableName: this.table,
          Item: {
            pk: s(keyPartition(collection, head.incarnation)),
            sk: s(pending.keyText),
            seq: n(firstSeq + i),
            payloadCrc: n(pending.payloadCrc),
            appendedAtMs: n(now),
            expiresAt: n(expiresAt),
          },
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
          ExpressionAttributeValues: { ':now': n(Math.floor(now / 1000)) },
        },
      });
    });
    // The same token for the same transaction: DynamoDB answers a resend within
    // 10 minutes with the first outcome instead of applying it again.
    const token = `${group.groupId.slice(0, 24)}-${firstSeq.toString(36)}`;
    return new TransactWriteItemsCommand({ TransactItems: items, ClientRequestToken: token });
  }

  /** After an unknown outcome: did our group land at firstSeq, and where is the head now? */
  private async readBack(collection: string, firstSeq: number, incarnation: number, groupId: string): Promise<{ applied: boolean; head: Head }> {
    const head = await this.readHead(collection);
    const item = await this.getItem({ pk: s(walPartition(collection, incarnation)), sk: s(seqKey(firstSeq)) }, 'groupId');
    return { applied: item?.groupId?.S === groupId, head };
  }

  /** Members whose key already has an item are retries: answer them with the
   * stored seq (or `conflict`), and return the members still to commit. */
  private async settleRetriedKeys(collection: string, head: Head, members: PendingAppend[], conflictIndexes: number[]): Promise<PendingAppend[]> {
    const keyed = members.filter((pending) => pending.keyText !== null);
    const settled = new Set<PendingAppend>();
    for (const index of conflictIndexes) {
      const pending = keyed[index];
      const item = await this.getItem({ pk: s(keyPartition(collection, head.incarnation)), sk: s(pending.keyText!) });
      if (!item || num(item.expiresAt) * 1000 < Date.now()) continue; // expired meanwhile: commit it anew
      const seq = num(item.seq);
      if (num(item.payloadCrc) !== pending.payloadCrc) {
        pending.reject(new HyperspaceError('conflict', `idempotency key reused with a different payload: collection=${collection} key=${pending.keyText} seq=${seq}`));
      } else {
        pending.resolve({ seq });
      }
      settled.add(pending);
    }
    return members.filter((pending) => !settled.has(pending));
  }

  // ---- reads -----------------------------------------------------------

  private async readHead(collection: string): Promise<Head> {
    const item = await this.getItem(headKey(collection));
    if (!item) return { exists: false, incarnation: 0, lastSeq: 0, truncatedThroughSeq: 0 };
    return { exists: true, incarnation: num(item.incarnation), lastSeq: num(item.lastSeq), truncatedThroughSeq: num(item.truncatedThroughSeq) };
  }

  private async readControl(collection: string): Promise<Control> {
    const item = await this.getItem(controlKey(collection));
    const pointer = item?.pointerVersion ? { version: num(item.pointerVersion), key: item.pointerKey.S! } : null;
    const lease = item?.leaseEpoch
      ? { epoch: num(item.leaseEpoch), owner: item.leaseOwner?.S ?? '', expiresAtMs: num(item.leaseExpiresAtMs) }
      : null;
    return { pointer, lease };
  }

  private async pointerIs(collection: string, next: ManifestPointer): Promise<boolean> {
    const { pointer } = await this.readControl(collection);
    return pointer?.version === next.version && pointer.key === next.key;
  }

  /** The group's body: inline, or from the object store. */
  private async groupBody(collection: string, item: Item): Promise<Uint8Array> {
    const body = item.body?.B ?? (item.spillKey?.S ? await this.objects.get(item.spillKey.S) : undefined);
    if (!body) throw new HyperspaceError('data', `wal group has no body: collection=${collection} firstSeq=${num(item.firstSeq)}`);
    return body;
  }

  private decodeGroup(collection: string, item: Item, body: Uint8Array): { firstSeq: number; appendedAtMs: number; records: { payload: Uint8Array }[] } {
    const firstSeq = num(item.firstSeq);
    const where = `collection=${collection} firstSeq=${firstSeq}`;
    if (num(item.v) !== 1) throw new HyperspaceError('data', `wal group has unknown version ${item.v?.N}: ${where}`);
    const records = decodeGroupBody(
      body,
      { count: num(item.count), groupId: Buffer.from(item.groupId?.S ?? '', 'hex'), bodyBytes: num(item.bodyBytes), bodyCrc: num(item.bodyCrc) },
      where,
    );
    return { firstSeq, appendedAtMs: num(item.appendedAtMs), records };
  }

  private async getItem(key: Item, projection?: string): Promise<Item | null> {
    const response = await this.send(
      'get item',
      new GetItemCommand({ TableName: this.table, Key: key, ConsistentRead: true, ProjectionExpression: projection }),
      true,
    );
    return response.Item ?? null;
  }

  private async query(input: Omit<QueryCommandInput, 'TableName'>): Promise<{ items: Item[]; lastKey?: Item }> {
    const response = await this.send('query', new QueryCommand({ TableName: this.table, ConsistentRead: true, ...input }), true);
    return { items: response.Items ?? [], lastKey: response.LastEvaluatedKey };
  }

  private async countCollections(): Promise<number> {
    let count = 0;
    let start: Item | undefined;
    do {
      const response = await this.send(
        'count collections',
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': s('catalog') },
          Select: 'COUNT',
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
        true,
      );
      count += response.Count ?? 0;
      start = response.LastEvaluatedKey;
    } while (start);
    return count;
  }

  // ---- writes other than appends ---------------------------------------

  /**
   * One conditional update: true if it applied, false if its condition failed.
   * After an unknown outcome `applied` reads back whether it took effect.
   */
  private async conditionalUpdate(
    what: string,
    input: { Key: Item; UpdateExpression: string; ConditionExpression: string; ExpressionAttributeValues: Item },
    applied: () => Promise<boolean>,
  ): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.send(new UpdateItemCommand({ TableName: this.table, ...input }));
        return true;
      } catch (error) {
        if (errorName(error) === CONDITION_FAILED) {
          // Also what a copy of an applied request answers: read back.
          return attempt > 0 ? applied() : false;
        }
        if (attempt + 1 >= limits.awsRetryAttemptsMax || !(isThrottling(error) || isTransient(error))) {
          throw toStoreError(what, error, attempt + 1);
        }
        if (isTransient(error) && (await applied().catch(() => false))) return true;
        await sleep(backoffMs(attempt));
      }
    }
  }

  /** Sends a command; `idempotent` ones are retried on throttling and transient errors. */
  // The SDK's send is overloaded per command; one loose signature serves them all here.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private async send(what: string, command: unknown, idempotent: boolean): Promise<Record<string, any>> {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const once = () => (this.client.send as (command: unknown) => Promise<Record<string, any>>).call(this.client, command);
    if (!idempotent) {
      try {
        return await once();
      } catch (error) {
        if (errorName(error) === CONDITION_FAILED) throw error;
        throw toStoreError(what, error);
      }
    }
    try {
      return await withRetries(`dynamodb ${what}`, once);
    } catch (error) {
      if (errorName(error) === CONDITION_FAILED || error instanceof HyperspaceError) throw error;
      throw toStoreError(what, error);
    }
  }

  private async deleteGroupsThrough(collection: string, incarnation: number, seq: number): Promise<void> {
    const partition = walPartition(collection, incarnation);
    const doomed: Item[] = [];
    let start: Item | undefined;
    do {
      const page = await this.query({
        KeyConditionExpression: 'pk = :pk AND sk <= :sk',
        ExpressionAttributeValues: { ':pk': s(partition), ':sk': s(seqKey(seq)) },
        ProjectionExpression: 'pk, sk, firstSeq, #count, spillKey',
        ExpressionAttributeNames: { '#count': 'count' },
        ExclusiveStartKey: start,
        Limit: 100,
      });
      for (const item of page.items) {
        if (num(item.firstSeq) + num(item.count) - 1 <= seq) doomed.push(item);
      }
      start = doomed.length < limits.dynamoTruncateGroupsMax ? page.lastKey : undefined;
    } while (start);
    await this.deleteItems(doomed.slice(0, limits.dynamoTruncateGroupsMax));
  }

  private async deletePartition(partition: string, withSpills: boolean): Promise<void> {
    let start: Item | undefined;
    do {
      const page = await this.query({
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': s(partition) },
        ProjectionExpression: withSpills ? 'pk, sk, spillKey' : 'pk, sk',
        ExclusiveStartKey: start,
        Limit: 100,
      });
      await this.deleteItems(page.items);
      start = page.lastKey;
    } while (start);
  }

  /** Spill objects first, then the items (an item never points at a deleted object it still needs). */
  private async deleteItems(items: Item[]): Promise<void> {
    for (const item of items) if (item.spillKey?.S) await this.objects.delete(item.spillKey.S);
    for (let i = 0; i < items.length; i += 25) {
      let requests = items.slice(i, i + 25).map((item) => ({ DeleteRequest: { Key: { pk: item.pk, sk: item.sk } } }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        const response = await this.send(
          'delete items',
          new BatchWriteItemCommand({ RequestItems: { [this.table]: requests } }),
          true,
        );
        requests = (response.UnprocessedItems?.[this.table] ?? []) as typeof requests;
        if (requests.length > 0) {
          if (attempt + 1 >= limits.awsRetryAttemptsMax) throw new HyperspaceError('overloaded', `dynamodb delete items throttled: table=${this.table}`);
          await sleep(backoffMs(attempt));
        }
      }
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new HyperspaceError('unavailable', `log store is closed: table=${this.table}`);
  }
}

/** Creates the table with the settings docs/format/dynamodb.md requires and
 * waits until it is active (tests; `infra/storage.ts` declares the same). */
export async function createLogTable(client: DynamoDBClient, table: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' },
    }),
  );
  for (let attempt = 0; ; attempt++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    if (Table?.TableStatus === 'ACTIVE') break;
    if (attempt > 600) throw new HyperspaceError('unavailable', `dynamodb table did not become active: table=${table}`);
    await sleep(100);
  }
  await client.send(
    new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { Enabled: true, AttributeName: 'expiresAt' } }),
  );
}

/** The client config: our own retries (the SDK's would retry conditional writes blindly). */
export function dynamoClientConfig(options: Omit<DynamoLogStoreOptions, 'table' | 'objects'>): DynamoDBClientConfig {
  return {
    region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    endpoint: options.endpoint ?? process.env.AWS_ENDPOINT_URL_DYNAMODB ?? process.env.AWS_ENDPOINT_URL,
    credentials: options.credentials,
    maxAttempts: 1,
    requestHandler: { requestTimeout: 10_000, connectionTimeout: 3_000 },
  };
}

function cancellationCodes(error: unknown): string[] | null {
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
  return reasons ? reasons.map((reason) => reason.Code ?? 'None') : null;
}

/** The head item DynamoDB returned with a failed head condition (ALL_OLD). */
function headFromCancellation(error: unknown): { head: Head; lastGroupId?: string } | undefined {
  const item = (error as { CancellationReasons?: { Item?: Item }[] }).CancellationReasons?.[0]?.Item;
  if (!item) return undefined;
  return {
    head: { exists: true, incarnation: num(item.incarnation), lastSeq: num(item.lastSeq), truncatedThroughSeq: num(item.truncatedThroughSeq) },
    lastGroupId: item.lastGroupId?.S,
  };
}

function sameHead(a: Head, b: Head): boolean {
  return a.exists === b.exists && a.incarnation === b.incarnation && a.lastSeq === b.lastSeq;
}

function toStoreError(what: string, error: unknown, attempts = 1): HyperspaceError {
  if (error instanceof HyperspaceError) return error;
  if (isThrottling(error) || isTransient(error)) return unavailable(`dynamodb ${what}`, error, attempts);
  const name = errorName(error);
  if (name === 'ResourceNotFoundException') {
    return new HyperspaceError('unavailable', `dynamodb table not found (create it, see docs/format/dynamodb.md): ${what}`, { cause: error });
  }
  return new HyperspaceError('internal', `dynamodb ${what} failed: ${name}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}
