// What a replica knows of its leader's seqs, so that it can serve sync to
// another replica (a follower chain: leader → follower → follower), in the
// leader's seqs (docs/format/merkle.md "Follower chains"). A replica's tail
// entries carry the leader's seq of each upsert, but once folded a segment
// keeps only the replica's own seq (and the leaf, which hashes the leader's),
// so the leader seq of every record this process writes is kept here, and of
// every replicated delete. It lives in memory: after a restart the records
// folded before it are unknown until learned again from the upstream
// (engine/sync.ts `learnSourceSeqs`, checked against each record's leaf).
import type { Collection } from './collection.ts';
import { limits } from './limits.ts';

export class SourceSeqs {
  /** id → leader seq of the live record this process wrote. */
  readonly upserts = new Map<string, number>();
  /** id → leader seq by which it was deleted (a repair's delete: the digest's seq). */
  readonly deletes = new Map<string, number>();
  /** Every delete with a higher leader seq is in `deletes`: the replica's seq when tracking began, raised as old entries go. */
  horizon: number;
  /** Bumped whenever a known seq may have changed meaning (learned, or a write's outcome unknown): cached orders are rebuilt. */
  generation = 0;
  /** Whether every live record's leader seq is known; undefined until checked. */
  complete: boolean | undefined;

  constructor(horizon: number, empty: boolean) {
    this.horizon = horizon;
    this.complete = empty ? true : undefined;
  }

  /** After a replicated write was applied. */
  wrote(upserts: readonly { id: string; seq: number }[], deletes: readonly { id: string; seq: number }[]): void {
    for (const r of upserts) {
      this.upserts.set(r.id, r.seq);
      this.deletes.delete(r.id);
    }
    for (const d of deletes) {
      this.upserts.delete(d.id);
      this.deletes.set(d.id, d.seq);
    }
    if (this.deletes.size > limits.tombstonesRetainedMax) this.dropOldestDeletes();
  }

  /** After a replicated write failed: it may or may not have applied, so its ids' seqs are unknown until learned. */
  unsure(ids: Iterable<string>): void {
    for (const id of ids) this.upserts.delete(id);
    this.complete = false;
    this.generation++;
  }

  learned(id: string, seq: number): void {
    this.upserts.set(id, seq);
    this.generation++;
  }

  /** Keeps the newest half of the bound; a replica behind the raised horizon repairs instead of catching up. */
  private dropOldestDeletes(): void {
    const sorted = [...this.deletes].sort((a, b) => a[1] - b[1]);
    for (const [id, seq] of sorted.slice(0, sorted.length - limits.tombstonesRetainedMax / 2)) {
      this.deletes.delete(id);
      this.horizon = Math.max(this.horizon, seq);
    }
  }
}

const known = new WeakMap<Collection, SourceSeqs>();

/** The replica's record of leader seqs, begun at its current seq the first time it is asked for. */
export function sourceSeqsOf(replica: Collection): SourceSeqs {
  let seqs = known.get(replica);
  if (!seqs) {
    const view = replica.syncView();
    const empty = view.segments.length === 0 && view.tail.size === 0;
    known.set(replica, (seqs = new SourceSeqs(view.sourceSeq ?? 0, empty)));
  }
  return seqs;
}
