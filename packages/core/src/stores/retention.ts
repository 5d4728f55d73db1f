import type { ApprovalRecord, CheckpointRecord, KeyRecord } from '../store.ts';
import { keyState } from './queries.ts';

/**
 * What `prune` may delete, written once (see `Store.prune`). The memory store applies these;
 * SQLite, Redis (Lua) and Postgres say the same in their own language, and the conformance suite
 * holds them all to it.
 */

/** A token whose key is missing, revoked or expired can only fail to authenticate. */
export function isPrunableToken(key: KeyRecord | undefined, now: number): boolean {
  return key === undefined || keyState(key, now) !== 'active';
}

/**
 * When a checkpoint may be pruned: once settled, at the end of its dedup window (from then on
 * begin would run the call again rather than replay it). Null while in progress (a reservation
 * or an unknown outcome) and for a checkpoint without a recorded window: never.
 */
export function checkpointPrunableAt(checkpoint: CheckpointRecord): number | null {
  if (checkpoint.state === 'in_progress' || checkpoint.completedAt === null) return null;
  return typeof checkpoint.dedupWindowMs === 'number'
    ? checkpoint.completedAt + checkpoint.dedupWindowMs
    : null;
}

export function isPrunableCheckpoint(checkpoint: CheckpointRecord, now: number): boolean {
  const at = checkpointPrunableAt(checkpoint);
  return at !== null && at <= now;
}

/**
 * Decided at least `olderThanMs` before `now`, and unable to admit its call: denied, or
 * approved but used or expired. A pending approval waits for a person; a usable one is a yes
 * still owed to a call.
 */
export function isPrunableApproval(approval: ApprovalRecord, now: number, olderThanMs: number): boolean {
  if (approval.state === 'pending' || approval.decidedAt === null) return false;
  if (approval.decidedAt + olderThanMs > now) return false;
  const usable =
    approval.state === 'approved' && approval.usedAt === null && approval.decidedAt + approval.ttlMs > now;
  return !usable;
}

/**
 * The generation and fencing token a checkpoint created from nothing starts at, once `pruned`
 * checkpoints are gone: above every fencing token (which is never below the generation) they
 * used, so a re-created checkpoint never repeats a vendor idempotency key or a fence.
 */
export function raiseCheckpointFloor(floor: number, pruned: Iterable<CheckpointRecord>): number {
  let next = floor;
  for (const checkpoint of pruned) next = Math.max(next, checkpoint.fencingToken + 1);
  return next;
}
