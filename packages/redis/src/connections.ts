import { Redactor, StoreUnavailableError } from '@spendguard/core';
import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import type { LuaScript } from './lua/scripts.ts';

export type RedisClient = Redis | Cluster;

export interface ConnectionSettings {
  url: string;
  client: RedisClient | undefined;
  poolSize: number;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  redisOptions: RedisOptions | undefined;
}

/** Commands this store has sent, for benchmarks: the difference across calls is what they cost. */
export interface RedisStoreStats {
  /** Every command sent: EVALSHA, EVAL after NOSCRIPT, and the few plain reads and writes. */
  commands: number;
  /** EVALSHA answered NOSCRIPT (first use on a server, or after SCRIPT FLUSH or a failover). */
  scriptLoads: number;
  /**
   * Of `commands`, those the sealer sent to link audit rows (two per batch of up to 500 rows,
   * off the calls' path): `commands - sealCommands` is what the calls themselves cost.
   */
  sealCommands: number;
}

/**
 * The connections of one store: a small round-robin pool of ioredis clients the store opened
 * (closed by `close`), or the one client the caller passed in (left open: the caller owns it).
 *
 * Opened clients fail fast: no offline queue, no retry of a command whose connection dropped,
 * a command timeout. A pipeline step must not wait for Redis to come back, and must never be
 * sent twice without the caller knowing; the guard turns the error into `store_unavailable`.
 */
export class Connections {
  readonly #clients: RedisClient[];
  readonly #owned: boolean;
  readonly #redactor: Redactor;
  readonly #connectTimeoutMs: number;
  /** Opened clients that have been ready at least once. Before that, a call waits for the first connect. */
  readonly #everReady = new WeakSet<RedisClient>();
  readonly #firstConnect = new Map<RedisClient, Promise<void>>();
  #next = 0;
  #closed = false;
  readonly stats: RedisStoreStats = { commands: 0, scriptLoads: 0, sealCommands: 0 };
  /** The last connection error an opened client reported (credentials removed), for diagnostics. */
  lastError: string | undefined;

  constructor(settings: ConnectionSettings) {
    this.#connectTimeoutMs = settings.connectTimeoutMs;
    this.#redactor = new Redactor(secretsOf(settings));
    if (settings.client) {
      this.#clients = [settings.client];
      this.#owned = false;
      return;
    }
    this.#owned = true;
    const options: RedisOptions = {
      connectionName: 'spendguard',
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: settings.commandTimeoutMs,
      connectTimeout: settings.connectTimeoutMs,
      retryStrategy: (times) => Math.min(times * 100, 1000),
      ...settings.redisOptions,
    };
    this.#clients = Array.from({ length: settings.poolSize }, () => {
      const client = new Redis(settings.url, options);
      // Without a listener ioredis prints each connection error; with one it never throws them.
      client.on('error', (error: Error) => {
        this.lastError = this.redact(error.message);
      });
      client.on('ready', () => this.#everReady.add(client));
      return client;
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The clients (one per pooled connection, or the one passed in). */
  get clients(): readonly RedisClient[] {
    return this.#clients;
  }

  /** Run a script by SHA; if the server does not have it, send it once with EVAL (which caches it). */
  async run(script: LuaScript, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const client = await this.#client();
    const argv: (string | number)[] = [script.sha, keys.length, ...keys, ...args];
    this.stats.commands++;
    try {
      return await client.call('EVALSHA', argv);
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw this.#unavailable(error);
    }
    this.stats.commands++;
    this.stats.scriptLoads++;
    argv[0] = script.lua;
    try {
      return await client.call('EVAL', argv);
    } catch (error) {
      throw this.#unavailable(error);
    }
  }

  async call(command: string, args: readonly (string | number)[]): Promise<unknown> {
    const client = await this.#client();
    this.stats.commands++;
    try {
      return await client.call(command, [...args]);
    } catch (error) {
      throw this.#unavailable(error);
    }
  }

  /** Close the clients this store opened; a client passed in is the caller's to close. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#owned) return;
    await Promise.all(
      this.#clients.map(async (client) => {
        if (client.status !== 'ready') {
          client.disconnect();
          return;
        }
        // QUIT lets replies in flight arrive; a server that does not answer is cut off.
        const timer = setTimeout(() => client.disconnect(), 1000);
        try {
          await client.quit();
        } catch {
          client.disconnect();
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }

  /** Remove the password, in every form core's redactor knows, from a message. */
  redact(message: string): string {
    return this.#redactor.redact(message);
  }

  async #client(): Promise<RedisClient> {
    if (this.#closed) throw new StoreUnavailableError('the Redis store is closed');
    const client = this.#clients[this.#next++ % this.#clients.length] as RedisClient;
    if (this.#owned && client.status !== 'ready' && !this.#everReady.has(client)) {
      await this.#waitForFirstConnect(client);
    }
    return client;
  }

  /** Only the first connect is waited for; after that, a client that is down fails at once. */
  #waitForFirstConnect(client: RedisClient): Promise<void> {
    let pending = this.#firstConnect.get(client);
    if (!pending) {
      pending = new Promise<void>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          client.off('ready', onReady);
          this.#firstConnect.delete(client);
        };
        const onReady = () => {
          done();
          resolve();
        };
        const timer = setTimeout(() => {
          done();
          const why = this.lastError ? `: ${this.lastError}` : '';
          reject(
            new StoreUnavailableError(`cannot connect to Redis within ${this.#connectTimeoutMs} ms${why}`),
          );
        }, this.#connectTimeoutMs);
        timer.unref();
        client.on('ready', onReady);
      });
      this.#firstConnect.set(client, pending);
    }
    return pending;
  }

  #unavailable(error: unknown): StoreUnavailableError {
    if (StoreUnavailableError.isInstance(error)) return error;
    const message = this.redact(error instanceof Error ? error.message : String(error));
    return new StoreUnavailableError(`Redis store: ${message}`, { cause: error });
  }
}

function secretsOf(settings: ConnectionSettings): Set<string> {
  const secrets = new Set<string>();
  const password = settings.redisOptions?.password;
  if (password) secrets.add(password);
  if (!settings.client) {
    try {
      const url = new URL(settings.url);
      for (const value of [url.password, url.searchParams.get('password') ?? '']) {
        if (value) {
          secrets.add(value);
          secrets.add(decodeURIComponent(value));
        }
      }
    } catch {
      // Not a URL (a unix socket path): nothing to redact.
    }
  }
  return secrets;
}
