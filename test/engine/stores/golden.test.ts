// Format v1 golden files (docs/format/wal.md, local-stores.md), written once by
// the v1 code and frozen: every later version must still read them, and the v1
// encoder must still produce the same bytes.
import { cp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../../engine/stores/crc32c.ts';
import { decodeRecordFile } from '../../../engine/stores/local-files.ts';
import { LocalLogStore } from '../../../engine/stores/local-log-store.ts';
import {
  decodeRecord,
  encodeRecordHead,
  encodeSegmentHeader,
  segmentFileName,
  segmentHeaderBytes,
} from '../../../engine/stores/wal-format.ts';
import { bytesOf, temporaryDirectory, textOf } from './temporary-directory.ts';

const golden = fileURLToPath(new URL('./golden/local-v1', import.meta.url));
const walDirectory = join(golden, 'collections', 'docs', 'wal');

describe('local store format v1 golden files', () => {
  it('opens the v1 data directory and reads everything in it', async () => {
    const directory = await temporaryDirectory();
    await cp(golden, directory, { recursive: true });
    const store = await LocalLogStore.open(directory);
    try {
      expect(await store.listCollections()).toEqual(['docs']);
      expect(await store.getCollectionConfig('docs')).toBe('{"dimension":3,"metric":"l2"}');
      expect(await store.getPointer('docs')).toEqual({ version: 1, key: 'collections/docs/manifests/v1-e1.json' });
      expect(await store.lastSeq('docs')).toBe(15);
      await expect(store.read('docs', 5)).rejects.toMatchObject({ kind: 'not_found' });
      const records = await store.read('docs', 6);
      expect(records.map((r) => textOf(r.payload))).toEqual([
        ...Array.from({ length: 7 }, (_, i) => `golden record ${i + 6}`),
        'group member 4',
        'group member 5',
        'group member 6',
      ]);
      // The golden lease expired long ago: the next holder gets epoch 2.
      expect(await store.acquireLease('docs', 'next-indexer', 1000)).toEqual({ epoch: 2 });
      expect(await store.append('docs', bytesOf('after golden'))).toEqual({ seq: 16 });
    } finally {
      await store.close();
    }
  });

  it('still encodes segment headers and records byte for byte as v1 did', async () => {
    const segment = await readFile(join(walDirectory, segmentFileName(11)));
    expect(encodeSegmentHeader(11)).toEqual(new Uint8Array(segment.subarray(0, segmentHeaderBytes)));
    const groupOffsets: number[] = [];
    let offset = segmentHeaderBytes;
    while (offset < segment.length) {
      const record = decodeRecord('golden', segment, offset);
      if (typeof record === 'string') throw new Error(`golden record damaged at ${offset}: ${record}`);
      const head = encodeRecordHead({
        seq: record.seq,
        appendedAtMs: record.appendedAtMs,
        groupOffset: record.groupOffset,
        key: record.key === null ? null : bytesOf(record.key),
        payload: record.payload,
        payloadCrc: crc32c(record.payload),
      });
      expect(Buffer.concat([head, record.payload])).toEqual(segment.subarray(offset, offset + record.size));
      groupOffsets.push(record.groupOffset);
      offset += record.size;
    }
    // Records 11 and 12 were committed alone, 13–15 as one group.
    expect(groupOffsets).toEqual([0, 0, 0, 1, 2]);
    const state = decodeRecordFile('state', await readFile(join(walDirectory, 'state')));
    expect(state).toMatchObject({ truncatedThroughSeq: 5, idempotency: [['key-3', 3, expect.any(Number), expect.any(Number)]] });
  });
});
