// The engine's public entry point (`import { HyperspaceDB } from 'hyperspacedb'`).
export { HyperspaceDB, type OpenOptions } from './database.ts';
export { Collection, indexerDefaults, type CollectionDescription, type ConsistencyPoint, type Hit, type IndexerOptions, type PointRecord, type SearchOptions } from './collection.ts';
export type { CollectionConfig, CollectionConfigInput, Metadata, PointInput } from './validate.ts';
export { HyperspaceError, type ErrorKind } from '../native/errors.ts';
export { limits } from './limits.ts';
export type { ObjectStore } from './stores/object-store.ts';
export type { LogStore } from './stores/log-store.ts';
export { LocalObjectStore } from './stores/local-object-store.ts';
export { LocalLogStore } from './stores/local-log-store.ts';
