// Work split into numbered parts, at most `inFlightMax` running at once: the
// parts of a multipart upload, the ranged parts of a large download.
export async function inParts(count: number, inFlightMax: number, part: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await part(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inFlightMax, count) }, worker));
}
