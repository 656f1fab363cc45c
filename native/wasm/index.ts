// The WASM core's entry point in the browser bundle (web/build.ts builds it
// as web/dist/hyperspace-core.js): the same typed facade as the Node addon —
// native/index.ts, whose `node:module` the bundle maps to ./node-module.ts —
// so validation and error messages are identical by construction.
export * from '../index.ts';
