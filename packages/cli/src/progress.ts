import { SingleBar } from 'cli-progress';

/** Work shorter than this many rows gets no bar when stderr is not a terminal (logs stay quiet). */
const QUIET_BELOW = 10_000;

/** A progress bar on stderr, started at the first update that has a total worth showing. */
export interface Progress {
  update(done: number, total?: number): void;
  stop(): void;
}

export function progressBar(label: string, total: number): Progress {
  let bar: SingleBar | undefined;
  let size = total;
  return {
    update(done, newTotal) {
      if (newTotal !== undefined && newTotal > 0) size = newTotal;
      if (!bar && size > 0 && (process.stderr.isTTY || size >= QUIET_BELOW)) {
        bar = new SingleBar({
          format: `${label} [{bar}] {percentage}% | {value}/{total} rows | {duration_formatted}`,
          stream: process.stderr,
          noTTYOutput: true,
          notTTYSchedule: 1000,
          hideCursor: true,
        });
        bar.start(size, done);
      }
      if (bar) {
        bar.setTotal(Math.max(size, done));
        bar.update(done);
      }
    },
    stop() {
      bar?.stop();
    },
  };
}
