/** Which steps get a connection first when every connection is busy. */
export type Priority = 'high' | 'low';

interface Waiter {
  grant(): void;
}

/**
 * Hands out one permit per pooled connection, high priority first. Settling a call (finish) and
 * a human's verdict go before new calls (begin) and reads: under overload, new calls wait or fail
 * closed, while calls whose vendor already answered still get recorded.
 */
export class Admission {
  #free: number;
  readonly #high: Waiter[] = [];
  readonly #low: Waiter[] = [];

  constructor(permits: number) {
    this.#free = Math.max(1, permits);
  }

  /** Resolves with a release function; a low-priority wait gives up after `timeoutMs`. */
  acquire(priority: Priority, timeoutMs: number): Promise<() => void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const queue = priority === 'high' ? this.#high : this.#low;
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        grant: () => {
          if (timer) clearTimeout(timer);
          resolve(this.#releaser());
        },
      };
      queue.push(waiter);
      if (priority === 'low' && timeoutMs > 0) {
        timer = setTimeout(() => {
          const at = queue.indexOf(waiter);
          if (at >= 0) queue.splice(at, 1);
          reject(new Error(`timeout exceeded waiting for a free connection (all busy for ${timeoutMs} ms)`));
        }, timeoutMs);
      }
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#high.shift() ?? this.#low.shift();
      if (next) next.grant();
      else this.#free++;
    };
  }
}
