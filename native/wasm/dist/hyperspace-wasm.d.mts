// Types of the emscripten glue (hand-written; build.mjs leaves this file alone).
declare function createHyperspaceWasm(options: {
  instantiateWasm(imports: WebAssembly.Imports, receive: (instance: WebAssembly.Instance) => void): object;
}): Promise<unknown>;
export default createHyperspaceWasm;
