/** Exit codes, documented in the README: 0 ok, 1 denied or a failed check, 2 usage error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A command that ran and failed (an API error, a failed verify): exit code 1 unless said otherwise. */
export class CliError extends Error {
  readonly exitCode: number;
  /** The admin API's error code, when the failure came from it. */
  readonly code: string | undefined;

  constructor(message: string, options: { exitCode?: number; code?: string } = {}) {
    super(message);
    this.name = 'CliError';
    this.exitCode = options.exitCode ?? EXIT.failed;
    this.code = options.code;
  }
}

/** The command line itself is wrong: exit code 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, { exitCode: EXIT.usage, code: 'usage' });
    this.name = 'UsageError';
  }
}
