// `node:path` in the browser bundle: the engine joins a data directory only
// for the local stores, which the browser never opens.
export function join(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('/').replace(/\/+/g, '/');
}
export default { join };
