// A child process for the multi-process tests; run with `node --import tsx`.
//   hold-lock <dir>             open the store, print "locked", wait to be killed
//   append-loop <dir> <run>     append forever from 8 concurrent writers,
//                               printing "<seq> <counter>" after each ack
import { writeSync } from 'node:fs';
import { LocalLogStore } from '../../../engine/stores/local-log-store.ts';
import { crashPayload } from './crash-payload.ts';

const [mode, directory, runText] = process.argv.slice(2);
const store = await LocalLogStore.open(directory);

if (mode === 'hold-lock') {
  writeSync(1, 'locked\n');
  setInterval(() => {}, 1 << 30);
} else if (mode === 'append-loop') {
  let counter = Number(runText) * 1_000_000;
  const writer = async () => {
    while (true) {
      const mine = counter++;
      const { seq } = await store.append('crash', crashPayload(mine));
      // Synchronous: process.stdout may queue in user space, and a kill would
      // lose acknowledgements the parent should have checked.
      writeSync(1, `${seq} ${mine}\n`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, writer));
} else {
  throw new Error(`unknown mode: ${mode}`);
}
