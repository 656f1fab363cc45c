// Every bound in one place (TigerBeetle habit). Past a bound the caller gets a
// clear error (`invalid`/`too_large`) or backpressure (`overloaded`).
export const limits = {
  collectionNameBytesMax: 128,
  collectionsMax: 10_000,
  dimensionMax: 65_536,
  idBytesMax: 256,
  metadataBytesMax: 16 * 1024, // canonical JSON of one record's metadata
  metadataKeysMax: 128,
  metadataStringBytesMax: 4096,
  metadataArrayItemsMax: 256,
  batchPointsMax: 10_000,
  batchBytesMax: 64 * 1024 * 1024,
  deleteIdsMax: 10_000,
  kMax: 10_000,
  efMax: 100_000,
  hnswMMin: 2,
  hnswMMax: 128,
  efConstructionMax: 4096,
  filterDepthMax: 16,
  filterNodesMax: 1024,
  filterInValuesMax: 1024,
  scrollLimitMax: 10_000,
  // The unindexed WAL tail: past this, writers get `overloaded` until the
  // indexer catches up (DESIGN §6: the tail is a latency budget).
  tailRecordsMax: 200_000,
  tailBytesMax: 512 * 1024 * 1024,
  walRecordBytesMax: 256 * 1024 * 1024,
  segmentRecordsMax: 4_000_000,
  // Record validation and the metadata index (engine/validate.ts,
  // docs/format/metadata-index.md): u32 offsets bound one index blob.
  metadataKeyBytesMax: 256,
  metadataIndexBytesMax: 0xffff_ffff,
  // Stores (engine/stores, docs/format/wal.md, docs/format/local-stores.md).
  walSegmentBytesMax: 64 * 1024 * 1024,
  walGroupCommitBytesMax: 16 * 1024 * 1024,
  walGroupCommitRecordsMax: 10_000,
  walAppendQueueBytesMax: 512 * 1024 * 1024,
  walReadRecordsMax: 10_000,
  walReadBytesMax: 64 * 1024 * 1024,
  walIdempotencyKeyBytesMax: 256,
  walIdempotencyKeysMax: 10_000,
  walIdempotencyWindowMs: 15 * 60 * 1000,
  leaseTtlMsMax: 10 * 60 * 1000,
  collectionConfigBytesMax: 64 * 1024,
  objectKeyBytesMax: 1024,
  objectListKeysMax: 1_000_000,
  directoryLockAttemptsMax: 8,
  // Unreferenced segments and manifests are deleted only after this long:
  // longer than any query or follower lag (DESIGN §5).
  gcGraceMs: 10 * 60 * 1000,
  // A partially open segment whose download failed is not downloaded again before this.
  segmentDownloadRetryMs: 30 * 1000,
  // Replication (engine/sync.ts, docs/format/merkle.md). Deletes remembered for
  // followers past what the segments need; a follower further behind repairs.
  tombstonesRetainedMax: 20_000,
  // One catch-up answer: at most this many changes (a batch is never split) and
  // about this many bytes.
  syncChangesMax: 10_000,
  syncChangesBytesMax: 16 * 1024 * 1024,
  // One repair request: nodes to expand, nodes and ids to fetch; one answer's records.
  syncNodesMax: 4096,
  syncIdsMax: 10_000,
  syncPullRecordsMax: 10_000,
  syncPullBytesMax: 16 * 1024 * 1024,
  // A repair node holding at most this many records answers with its entries;
  // so does one at this depth (nibbles of SHA-256(id) after the bucket byte:
  // bytes 1..6, engine/merkle.ts idKey).
  syncNodeEntriesMax: 4,
  syncNodeDepthMax: 12,
  // Requests one repair may make (a billion records at 1% changed need ~10,000).
  syncRepairRoundsMax: 100_000,
  // Segment files the local WAL keeps open; the least recently used idle ones
  // are closed past this (reopened on the next append).
  walOpenFilesMax: 256,
  // AWS stores (docs/format/dynamodb.md): WAL group bodies above this go to S3;
  // a group's commit retries at most this often (unknown outcomes, throttling)
  // and keeps losing the race on the head to other writers for at most this
  // long; truncation deletes at most this many groups per call.
  dynamoWalInlineBytesMax: 32 * 1024,
  dynamoWalGroupKeysMax: 98,
  dynamoAppendAttemptsMax: 32,
  dynamoAppendRaceMsMax: 30_000,
  dynamoTruncateGroupsMax: 1000,
  s3MultipartThresholdBytes: 16 * 1024 * 1024,
  s3PartBytes: 8 * 1024 * 1024,
  s3PartsInFlightMax: 4,
  // Throttling, 5xx and network errors: attempts per call, full-jitter backoff.
  awsRetryAttemptsMax: 8,
  awsRetryDelayMsBase: 50,
  awsRetryDelayMsMax: 2000,
} as const;
