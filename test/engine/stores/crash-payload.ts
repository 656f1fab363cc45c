// Deterministic payloads the crash test can regenerate from a counter alone.
export function crashPayload(counter: number): Uint8Array {
  const length = 1 + ((counter * 7919) % 5000);
  const bytes = new Uint8Array(length);
  let state = (counter * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}
