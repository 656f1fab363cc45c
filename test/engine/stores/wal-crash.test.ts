import { describe, expect, it } from 'vitest';
import { LocalLogStore } from '../../../engine/stores/local-log-store.ts';
import { kill, spawnChild } from './child-process.ts';
import { crashPayload } from './crash-payload.ts';
import { temporaryDirectory } from './temporary-directory.ts';

const runs = 20;

describe('WAL under kill -9', () => {
  it(`keeps every acknowledged append, dense, across ${runs} crashes at random moments`, async () => {
    const directory = await temporaryDirectory();
    const acknowledged = new Map<number, number>(); // seq → counter of its payload
    let tornTails = 0;
    for (let run = 0; run < runs; run++) {
      const child = spawnChild('append-loop', directory, String(run));
      await child.waitForLine(() => true);
      await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 150));
      await kill(child);
      for (const line of child.lines) {
        const [seq, counter] = line.split(' ').map(Number);
        expect(acknowledged.has(seq), `seq ${seq} acknowledged twice`).toBe(false);
        acknowledged.set(seq, counter);
      }

      const store = await LocalLogStore.open(directory);
      try {
        const lastSeq = await store.lastSeq('crash');
        expect(lastSeq).toBeGreaterThanOrEqual(Math.max(...acknowledged.keys()));
        let expected = 1;
        const wrong: number[] = [];
        while (expected <= lastSeq) {
          const records = await store.read('crash', expected);
          expect(records.length).toBeGreaterThan(0);
          for (const record of records) {
            if (record.seq !== expected++) wrong.push(record.seq);
            const counter = acknowledged.get(record.seq);
            if (counter !== undefined && !Buffer.from(crashPayload(counter)).equals(record.payload)) {
              wrong.push(record.seq);
            }
          }
        }
        expect(wrong, 'records out of order or with the wrong payload').toEqual([]);
        expect(expected).toBe(lastSeq + 1);
        tornTails += store.stats.tornTailBytesTruncated > 0 ? 1 : 0;
      } finally {
        await store.close();
      }
    }
    expect(acknowledged.size).toBeGreaterThan(runs * 10);
    console.log(`crash test: ${runs} kills, ${acknowledged.size} acknowledged appends, ${tornTails} torn tails cut`);
  }, 180_000);
});
