import Table from 'cli-table3';
import { createColors } from 'picocolors';

/**
 * Colour only when stdout is a terminal. picocolors' own default also colours a pipe whenever `CI`
 * is set, which would put escape codes into a script's captured output; so we decide here.
 * `NO_COLOR` (non-empty) wins; `FORCE_COLOR` forces colour unless it is `0` or `false`.
 */
export function colourWanted(env: NodeJS.ProcessEnv, stdoutIsTty: boolean): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return stdoutIsTty && env.TERM !== 'dumb';
}

const pc = createColors(colourWanted(process.env, process.stdout.isTTY === true));

/** Where a command writes: JSON for scripts, tables and sentences for people. */
export interface Output {
  json: boolean;
  /** A result: printed as JSON with `--json`, else by `human`. */
  result(value: unknown, human: () => void): void;
  line(text: string): void;
  table(head: string[], rows: (string | number)[][]): void;
  /** A note for people on stderr (never mixed into `--json` output). */
  note(text: string): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    result(value, human) {
      if (json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
      else human();
    },
    line(text) {
      process.stdout.write(`${text}\n`);
    },
    table(head, rows) {
      const table = new Table({ head: head.map((h) => pc.bold(h)), style: { head: [], border: [] } });
      table.push(...rows.map((r) => r.map(String)));
      process.stdout.write(`${table.toString()}\n`);
    },
    note(text) {
      process.stderr.write(`${text}\n`);
    },
  };
}

export const usd = (value: number | null | undefined) => (value == null ? '—' : `$${value.toFixed(2)}`);

export const when = (ms: number | null | undefined) => (ms == null ? '—' : new Date(ms).toISOString());

/** Spend against a cap, amber from the first alert threshold and red at the cap, on a terminal. */
export function spentOf(spent: number, cap: number | null, alerts: readonly number[]): string {
  if (cap === null) return usd(spent);
  const text = `${usd(spent)} / ${usd(cap)}`;
  const percent = (spent / cap) * 100;
  if (percent >= 100) return pc.red(text);
  if (alerts.length > 0 && percent >= (alerts[0] as number)) return pc.yellow(text);
  return text;
}

export const decisionColour = (decision: string) =>
  decision === 'executed' || decision === 'approved'
    ? pc.green(decision)
    : decision === 'denied' || decision === 'failed'
      ? pc.red(decision)
      : pc.yellow(decision);
