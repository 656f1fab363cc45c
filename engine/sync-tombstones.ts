// Tombstones kept for followers (docs/format/merkle.md "Tombstones"). A
// manifest deletion entry [id, seq] is needed while a segment holds the id
// with a lower seq; after that it is kept as a tombstone, so a follower that
// may still hold the id learns of the delete by sequence. The newest
// `limits.tombstonesRetainedMax` are kept; dropping older ones raises the
// horizon: a follower behind it cannot be served by sequence and repairs.
import { limits } from './limits.ts';
import type { Manifest } from './manifest.ts';

/** Every delete with a higher seq is still known (manifest deletions or the WAL tail). */
export function tombstoneHorizonOf(manifest: Pick<Manifest, 'tombstoneHorizon' | 'walSeq'>): number {
  // A manifest written before tombstones were kept may have dropped any delete it folded.
  return manifest.tombstoneHorizon ?? manifest.walSeq;
}

/** Keeps every needed entry and the newest unneeded ones, in their order; returns the new horizon. */
export function retainTombstones(entries: readonly [string, number][], needed: (id: string, seq: number) => boolean, horizon: number,
  max: number = limits.tombstonesRetainedMax): { deletions: [string, number][]; horizon: number } {
  const isNeeded = entries.map(([id, seq]) => needed(id, seq));
  const spare = entries.map((e, i) => ({ seq: e[1], i })).filter(({ i }) => !isNeeded[i]);
  const room = Math.max(0, max - (entries.length - spare.length));
  const dropped = new Set<number>();
  if (spare.length > room) {
    spare.sort((a, b) => b.seq - a.seq);
    for (const { seq, i } of spare.slice(room)) {
      dropped.add(i);
      horizon = Math.max(horizon, seq);
    }
  }
  return { deletions: entries.filter((_, i) => !dropped.has(i)), horizon };
}
