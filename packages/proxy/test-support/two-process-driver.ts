/**
 * The test's side of two-process-proxy.ts: start a proxy process, wait until it listens, ask it
 * to revoke a key, stop it. Every wait is bounded.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { FromProxyProcess, ToProxyProcess, TwoProcessProxyConfig } from './two-process-proxy.ts';

const PROXY_PROCESS = fileURLToPath(new URL('./two-process-proxy.ts', import.meta.url));
const MESSAGE_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

/** The Redis the tests use: the machine's own, unless SPENDGUARD_TEST_REDIS_URL says otherwise. */
export const TEST_REDIS_URL = process.env.SPENDGUARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix no other test run shares. */
export function testPrefix(label: string): string {
  return `sgtest:${label}:${process.pid}:${randomBytes(4).toString('hex')}:`;
}

export class ProxyProcess {
  readonly #child: ChildProcess;
  readonly url: string;

  private constructor(child: ChildProcess, url: string) {
    this.#child = child;
    this.url = url;
  }

  /** Start one proxy process; `env` is added to this process's environment (the vendor secret). */
  static async start(config: TwoProcessProxyConfig, env: Record<string, string>): Promise<ProxyProcess> {
    const child = spawn(
      process.execPath,
      ['--conditions=@spendguard/source', PROXY_PROCESS, JSON.stringify(config)],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } },
    );
    try {
      const listening = await nextMessage(child, 'listening');
      return new ProxyProcess(child, listening.url);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  }

  /** Revoke a key with this process's guard; whether it was revoked now. */
  async revoke(keyId: string): Promise<boolean> {
    const answer = nextMessage(this.#child, 'revoked');
    this.#send({ type: 'revoke', keyId });
    return (await answer).revoked;
  }

  /** Let it close its server and guard and exit; kill it if it does not in time. Its exit code. */
  async stop(): Promise<number | null> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return this.#child.exitCode;
    const exited = once(this.#child, 'exit');
    this.#send({ type: 'exit' });
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    const [code] = (await exited) as [number | null];
    clearTimeout(timer);
    return code;
  }

  #send(message: ToProxyProcess): void {
    this.#child.send(message);
  }
}

function nextMessage<T extends FromProxyProcess['type']>(
  child: ChildProcess,
  type: T,
): Promise<Extract<FromProxyProcess, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new Error(`no '${type}' from a proxy process in time`)),
      MESSAGE_TIMEOUT_MS,
    );
    const onMessage = (message: FromProxyProcess) => {
      if (message.type === type) finish(undefined, message as Extract<FromProxyProcess, { type: T }>);
    };
    const onExit = (code: number | null) => finish(new Error(`a proxy process exited (${code})`));
    function finish(error?: Error, message?: Extract<FromProxyProcess, { type: T }>) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (message) resolve(message);
      else reject(error);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
