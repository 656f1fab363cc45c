// The LogStore contract (log-store-contract.ts) against the local and memory stores.
import { afterEach } from 'vitest';
import { LocalLogStore } from '../../../engine/stores/local-log-store.ts';
import type { LogStore } from '../../../engine/stores/log-store.ts';
import { MemoryLogStore } from '../../../engine/stores/memory-stores.ts';
import { describeLogStoreContract } from './log-store-contract.ts';
import { temporaryDirectory } from './temporary-directory.ts';

const opened: LogStore[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

describeLogStoreContract('LocalLogStore', {
  async open() {
    const store = await LocalLogStore.open(await temporaryDirectory());
    opened.push(store);
    return store;
  },
  async reopen(store) {
    await store.close();
    const reopened = await LocalLogStore.open((store as LocalLogStore).directory);
    opened.push(reopened);
    return reopened;
  },
});

describeLogStoreContract('MemoryLogStore', { open: async () => new MemoryLogStore(), reopen: async (store) => store });
