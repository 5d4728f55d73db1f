/**
 * A throwaway Redis Cluster for tests (not exported from the package): three masters on free
 * loopback ports, each a `redis-server --cluster-enabled yes` with its files in a temporary
 * directory, joined with `redis-cli --cluster create`. `stop()` ends the processes and removes the
 * directory; the servers are also killed if the test process dies (`setpriv --pdeathsig`, where
 * util-linux has it, and a process `exit` hook).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, type ClusterOptions, Redis } from 'ioredis';
import { RedisStore, type RedisStoreOptions } from './redis-store.ts';

const HOST = '127.0.0.1';
/** Temporary directories are `<tmp>/spendguard-cluster-<pid>-XXXXXX`. */
const DIR_PREFIX = 'spendguard-cluster-';

export interface ClusterNode {
  host: string;
  port: number;
}

export interface TestCluster {
  /** The masters, as `{ host, port }` (startup nodes for a `Cluster` client). */
  readonly nodes: readonly ClusterNode[];
  /** A new `Cluster` client for these nodes; the caller closes it. */
  client(options?: ClusterOptions): Cluster;
  /** The slot of `key`, as the server computes it (`CLUSTER KEYSLOT`). */
  keySlot(key: string): Promise<number>;
  /** The master (`host:port`) serving `slot`, from `CLUSTER SLOTS`. */
  ownerOf(slot: number): Promise<string>;
  /**
   * One hash tag per master (`<base>0`, `<base>1`, … until every master serves one), so stores
   * given these tags are on different masters. Keyed by master `host:port`.
   */
  tagsPerMaster(base: string): Promise<Map<string, string>>;
  /** Every key matching the `SCAN` pattern on each master, keyed by master `host:port`. */
  keysByMaster(pattern: string): Promise<Map<string, string[]>>;
  /** Stop the servers and remove their directory. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  /** Masters to start (at least 3, as `redis-cli --cluster create` requires). Default: 3. */
  masters?: number;
  /** Upper bound for start, join and `cluster_state:ok` on every node. Default: 30 000 ms. */
  timeoutMs?: number;
}

/** Start a cluster of `masters` masters (no replicas) and wait until every node says `cluster_state:ok`. */
export async function startCluster(options: StartClusterOptions = {}): Promise<TestCluster> {
  const masters = options.masters ?? 3;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (const tool of ['redis-server', 'redis-cli']) {
    if (!onPath(tool))
      throw new Error(`startCluster: ${tool} is not on PATH (Debian: apt-get install redis-server)`);
  }
  removeOrphanDirs();
  const dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  const servers: Server[] = [];
  const admins: Redis[] = [];
  const killAll = () => {
    for (const server of servers) server.child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const admin of admins) admin.disconnect();
    await Promise.all(servers.map((server) => server.stop()));
    process.removeListener('exit', killAll);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) servers.push(await startServer(dir, deadline));
    for (const server of servers) {
      const admin = new Redis({
        host: HOST,
        port: server.port,
        lazyConnect: true,
        maxRetriesPerRequest: 1,
        connectTimeout: 2000,
        commandTimeout: 5000,
      });
      admin.on('error', () => {});
      admins.push(admin);
    }
    const addresses = servers.map((s) => `${HOST}:${s.port}`);
    await run(
      'redis-cli',
      ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'],
      deadline - Date.now(),
    );
    await waitUntil(deadline, 'cluster_state:ok on every node', async () => {
      const infos = await Promise.all(admins.map((a) => a.call('CLUSTER', 'INFO') as Promise<string>));
      return infos.every(
        (info) =>
          /^cluster_state:ok\r?$/m.test(info) &&
          new RegExp(`^cluster_known_nodes:${masters}\\r?$`, 'm').test(info) &&
          /^cluster_slots_ok:16384\r?$/m.test(info),
      );
    });
  } catch (error) {
    const logs = servers.map((s) => `--- ${s.port}\n${s.logTail()}`).join('\n');
    await stop();
    throw new Error(`startCluster: ${(error as Error).message}\n${logs}`, { cause: error });
  }

  const nodes = servers.map((s) => ({ host: HOST, port: s.port }));
  const admin = admins[0] as Redis;
  const adminOf = new Map(servers.map((s, i) => [`${HOST}:${s.port}`, admins[i] as Redis]));
  const cluster: TestCluster = {
    nodes,
    client: (clientOptions = {}) => new Cluster(nodes, { slotsRefreshTimeout: 2000, ...clientOptions }),
    async keySlot(key) {
      return Number(await admin.call('CLUSTER', 'KEYSLOT', key));
    },
    async ownerOf(slot) {
      const ranges = (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
      for (const [from, to, [host, port]] of ranges) if (slot >= from && slot <= to) return `${host}:${port}`;
      throw new Error(`no master serves slot ${slot}`);
    },
    async tagsPerMaster(base) {
      const tags = new Map<string, string>();
      for (let i = 0; tags.size < servers.length; i++) {
        if (i === 10_000) throw new Error(`no tag ${base}N found for every master`);
        const tag = `${base}${i}`;
        const owner = await cluster.ownerOf(await cluster.keySlot(`{${tag}}`));
        if (!tags.has(owner)) tags.set(owner, tag);
      }
      return tags;
    },
    async keysByMaster(pattern) {
      const found = new Map<string, string[]>();
      for (const [address, node] of adminOf) {
        const keys: string[] = [];
        let cursor = '0';
        do {
          const [next, page] = (await node.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)) as [
            string,
            string[],
          ];
          keys.push(...page);
          cursor = next;
        } while (cursor !== '0');
        found.set(address, keys.sort());
      }
      return found;
    },
    stop,
  };
  return cluster;
}

/**
 * A store on its own `Cluster` client that it closes with itself (a `RedisStore` leaves a client
 * it was given open): for worker processes, which must exit once their guard is closed.
 */
export class ClusterStore extends RedisStore {
  readonly cluster: Cluster;

  constructor(nodes: readonly ClusterNode[], options: Omit<RedisStoreOptions, 'client' | 'url'>) {
    const cluster = new Cluster([...nodes], { slotsRefreshTimeout: 2000 });
    cluster.on('error', () => {}); // without a listener ioredis prints each one
    super({ ...options, client: cluster });
    this.cluster = cluster;
  }

  override async close(): Promise<void> {
    await super.close();
    if (this.cluster.status === 'end') return;
    try {
      await this.cluster.quit();
    } catch {
      this.cluster.disconnect();
    }
  }
}

interface Server {
  port: number;
  child: ChildProcess;
  logTail(): string;
  stop(): Promise<void>;
}

/** One cluster-enabled redis-server on free ports; a port taken meanwhile is retried with others. */
async function startServer(dir: string, deadline: number): Promise<Server> {
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 5 && Date.now() < deadline; attempt++) {
    const port = await freePort();
    const busPort = await freePort();
    if (port === busPort) continue;
    const log = join(dir, `redis-${port}.log`);
    const settings: [string, string][] = [
      ['port', String(port)],
      ['cluster-port', String(busPort)],
      ['bind', HOST],
      ['cluster-enabled', 'yes'],
      ['cluster-config-file', join(dir, `nodes-${port}.conf`)],
      ['cluster-node-timeout', '5000'],
      ['save', ''],
      ['appendonly', 'no'],
      ['dir', dir],
      ['logfile', log],
      ['daemonize', 'no'],
    ];
    const args = settings.flatMap(([name, value]) => [`--${name}`, value]);
    // setpriv asks the kernel to kill the server when this process dies, however it dies.
    const child = onPath('setpriv')
      ? spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'redis-server', ...args], { stdio: 'ignore' })
      : spawn('redis-server', args, { stdio: 'ignore' });
    child.on('error', () => {});
    const exited = once(child, 'exit').then(() => undefined);
    const logTail = () => {
      try {
        return readFileSync(log, 'utf8').split('\n').slice(-15).join('\n');
      } catch {
        return '(no log)';
      }
    };
    const server: Server = {
      port,
      child,
      logTail,
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      },
    };
    try {
      await waitUntil(deadline, `redis-server on port ${port} answering PING`, async () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new GaveUp(`redis-server on port ${port} exited (${child.exitCode ?? child.signalCode})`);
        }
        return (await ping(port)) === 'PONG';
      });
      return server;
    } catch (error) {
      lastError = new Error(`${(error as Error).message}\n${logTail()}`);
      await server.stop();
    }
  }
  throw lastError ?? new Error('no free port pair for redis-server');
}

/** PING one port on a connection of its own; undefined when nothing answers yet. */
async function ping(port: number): Promise<string | undefined> {
  const client = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 500,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) as string;
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
}

/** Thrown by a `waitUntil` check to stop waiting at once. */
class GaveUp extends Error {}

/** Poll `check` every 100 ms until it is true; fail with `what` at the deadline. */
async function waitUntil(deadline: number, what: string, check: () => Promise<boolean>): Promise<void> {
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (error) {
      if (error instanceof GaveUp) throw error;
      last = error;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/**
 * Remove the directories of test processes that died without `stop()` (their servers died with
 * them): the directory names carry the pid.
 */
function removeOrphanDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    const pid = Number(/^spendguard-cluster-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid || alive(pid)) continue;
    rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A loopback port nothing listens on right now (the OS picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

function run(command: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: Math.max(timeoutMs, 1000) }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')}: ${error.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

function onPath(command: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}
