import type { AuditRow, Guard } from '@spendguard/core';

/** Something the admin listener itself did that the live feed shows at once (not an audit row). */
export interface AdminEvent {
  type: 'key_revoked';
  keyId: string;
  at: number;
  /** Who: `admin api` for a Bearer-token caller, `console: <name>` for a console session. */
  by: string;
}

export type FeedItem = { kind: 'row'; row: AuditRow } | { kind: 'event'; event: AdminEvent };

/** How often the feed reads new audit rows while anyone is listening. */
export const FEED_POLL_MS = 200;
const FEED_PAGE = 500;

/**
 * New audit rows and admin events, fanned out to live listeners (the SSE stream). One poller per
 * admin API reads the log after the last seq it saw, only while someone listens; the store may be
 * shared with a proxy in another process, so polling (not an in-process hook) sees every call.
 */
export class AuditFeed {
  readonly #guard: Guard;
  readonly #listeners = new Set<(item: FeedItem) => void>();
  #timer: NodeJS.Timeout | undefined;
  #lastSeq = -1;
  #polling = false;

  constructor(guard: Guard) {
    this.#guard = guard;
  }

  /** Listen from the current head on; returns the unsubscribe function. */
  async subscribe(listener: (item: FeedItem) => void): Promise<() => void> {
    if (this.#lastSeq < 0) this.#lastSeq = (await this.#guard.store.auditHead())?.seq ?? 0;
    this.#listeners.add(listener);
    this.#timer ??= setInterval(() => void this.#poll(), FEED_POLL_MS);
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0 && this.#timer) {
        clearInterval(this.#timer);
        this.#timer = undefined;
        this.#lastSeq = -1;
      }
    };
  }

  /** The seq the live part of the feed starts after. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  publish(event: AdminEvent): void {
    for (const listener of this.#listeners) listener({ kind: 'event', event });
  }

  async #poll(): Promise<void> {
    if (this.#polling || this.#listeners.size === 0) return;
    this.#polling = true;
    try {
      for (;;) {
        const rows = await this.#guard.audit.list({ afterSeq: this.#lastSeq, limit: FEED_PAGE });
        for (const row of rows) {
          this.#lastSeq = row.seq;
          for (const listener of this.#listeners) listener({ kind: 'row', row });
        }
        if (rows.length < FEED_PAGE) break;
      }
    } catch {
      // The store is unreachable for now: the next tick tries again.
    } finally {
      this.#polling = false;
    }
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
  }
}
