/**
 * Test support: the `spendguard` command run as a user runs it, in a child process with its own
 * environment and working directory. From source (the `@spendguard/source` condition), so
 * `pnpm test` needs no build.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('./bin.ts', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface CliEnv {
  cwd: string;
  env?: Record<string, string | undefined>;
}

export function spawnCli(args: readonly string[], { cwd, env = {} }: CliEnv): ChildProcess {
  return spawn(process.execPath, ['--conditions=@spendguard/source', BIN, ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Run to the end (bounded: killed after `timeoutMs`). */
export function runCli(
  args: readonly string[],
  options: CliEnv & { timeoutMs?: number },
): Promise<CliResult> {
  const started = performance.now();
  const child = spawnCli(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** Wait until the child's stderr has printed lines matching every pattern; returns the matches. */
export function waitForStderr(
  child: ChildProcess,
  patterns: RegExp[],
  timeoutMs = 20_000,
): Promise<RegExpExecArray[]> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${patterns.join(', ')}; stderr: ${text}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      text += chunk;
      const found = patterns.map((p) => p.exec(text));
      if (found.every(Boolean)) {
        clearTimeout(timer);
        child.stderr?.off('data', onData);
        resolve(found as RegExpExecArray[]);
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code} before printing ${patterns.join(', ')}; stderr: ${text}`));
    });
  });
}
