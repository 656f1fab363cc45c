// The ObjectStore contract (object-store-contract.ts) against the local and memory stores.
import { LocalObjectStore } from '../../../engine/stores/local-object-store.ts';
import { MemoryObjectStore } from '../../../engine/stores/memory-stores.ts';
import { describeObjectStoreContract } from './object-store-contract.ts';
import { temporaryDirectory } from './temporary-directory.ts';

describeObjectStoreContract('LocalObjectStore', async () => LocalObjectStore.open(await temporaryDirectory()));
describeObjectStoreContract('MemoryObjectStore', async () => new MemoryObjectStore());
