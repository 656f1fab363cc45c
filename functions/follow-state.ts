// Which databases are followers, and of which leader: the handler layer
// answers their writes with `conflict` naming the leader (DESIGN §7: writes
// go to the home region; no redirect). Set by functions/follow.ts.
import type { HyperspaceDB } from '../engine/index.ts';

const leaders = new WeakMap<HyperspaceDB, string>();

export function setLeader(db: HyperspaceDB, leader: string | undefined): void {
  if (leader === undefined) leaders.delete(db);
  else leaders.set(db, leader);
}

/** The leader's URL when `db` follows one. */
export function leaderOf(db: HyperspaceDB): string | undefined {
  return leaders.get(db);
}
