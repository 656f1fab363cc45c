// The local-directory stores in the browser bundle: there is no file system;
// the IndexedDB stores (web/indexeddb-stores.ts) take their place.
import { HyperspaceError } from '../../native/errors.ts';

function noFiles(): never {
  throw new HyperspaceError('invalid', 'the browser build has no file system: open the database with IndexedDB stores (openBrowserDatabase)');
}

export class LocalObjectStore {
  static async open(): Promise<never> { return noFiles(); }
}
export class LocalLogStore {
  static async open(): Promise<never> { return noFiles(); }
}
