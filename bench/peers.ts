import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { CachePersistenceLayer } from '@aws-lambda-powertools/idempotency/cache';
import { Idempotency, type IdempotencyParams } from '@node-idempotency/core';
import { MemoryStorageAdapter } from '@node-idempotency/storage-adapter-memory';
import { RedisStorageAdapter } from '@node-idempotency/storage-adapter-redis';
import { createClient, type SetOptions } from '@redis/client';
import type { ExecuteRequest, Guard } from '@spendguard/core';
import { bareRedis, type PgPool, type RedisClient } from './servers.ts';

/**
 * The contenders of the store benches, all doing one job: run a no-op async function that
 * returns a small object at most once per payload. A first call runs it and stores its result; a
 * repeat with the same payload gets the stored result back without running it.
 *
 * - the floors: the least any store can do for that job, hand-written for the one path they time
 *   (Redis: `SET NX` to claim, `SET` to store, `GET` to replay; Postgres: an `INSERT` claim and an
 *   `UPDATE` with the result, two autocommit statements, and a `SELECT` by primary key to replay);
 * - the peers, used as their documentation shows: AWS Powertools' `makeIdempotent` with its Redis
 *   `CachePersistenceLayer` (an `@redis/client` v6 client), and `@node-idempotency/core`'s
 *   `onRequest`/`onResponse` on its Redis and memory storage adapters;
 * - spendguard: `guard.execute` on a store, which also authenticates, checks the policy, reserves
 *   against the caps and writes the audit row.
 *
 * Round trips are counted where each contender talks to its store: the floors count their own
 * commands, Powertools' client and @node-idempotency's adapter are wrapped in counters (each
 * method of either sends one command), spendguard's stores count their own.
 */

export type Charge = { id: string; object: string };

/** What a caller gets from each contender: `ran` (the function ran), `stored` (a stored result). */
export type Outcome = 'ran' | 'stored' | (string & {});

export interface Contender {
  /** Row label. */
  readonly name: string;
  /** A first call with this order id: the function runs once and its result is stored. */
  first(orderId: string): Promise<Outcome>;
  /** A repeat of an order id already run: the stored result, the function not run. */
  replay(orderId: string): Promise<Outcome>;
  /** Times this contender's function ran. */
  readonly fnCalls: number;
  /** Round trips to the store so far. */
  roundTrips(): number;
  close(): Promise<void>;
}

/** The charge each call makes: the same params spendguard's policy checks. */
export function chargeParams(orderId: string) {
  return { amount: 500, currency: 'usd', customer: 'cus_bench', metadata: { order_id: orderId } };
}

export type ChargeParams = ReturnType<typeof chargeParams>;

/** The request `guard.execute` gets for the same charge (as core-overhead's `freshCharge`). */
export function chargeRequest(key: string, orderId: string): ExecuteRequest {
  return {
    key,
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    params: chargeParams(orderId),
    cost: { amount: 5, currency: 'usd' },
  };
}

/** Results fresh from a function: a contender returning one of these ran it on that call. */
const fresh = new WeakSet<object>();

/** The no-op "vendor" each contender wraps, counting its runs. */
class Vendor {
  calls = 0;
  readonly fn = async (): Promise<Charge> => {
    this.calls++;
    const charge = { id: 'ch_1', object: 'charge' };
    fresh.add(charge);
    return charge;
  };
}

/** `ran`, `stored`, or what came instead of the charge. */
function outcome(result: unknown): Outcome {
  if (typeof result === 'object' && result !== null && fresh.has(result)) return 'ran';
  const charge = result as Partial<Charge> | null | undefined;
  if (charge?.id === 'ch_1' && charge.object === 'charge') return 'stored';
  return `returned ${JSON.stringify(result)}`;
}

/** Matches a lease: how long an in-progress claim holds before another caller may take it over. */
export const LEASE_MS = 60_000; // spendguard's default leaseMs
/** How long stored results are kept (every contender's keys are deleted when the bench ends). */
const TTL_MS = 3_600_000;

/**
 * Redis floor on ioredis, two connections used in turn (as the Redis store does): a first call is
 * `SET key claim PX ttl NX`, the function, `SET key result PX ttl` (2 round trips); a replay is
 * `GET key` and parsing the result (1 round trip). Its keys are left for `clearRedisPrefix`.
 */
export function redisFloor(url: string, prefix: string): Contender {
  const clients = [bareRedis(url), bareRedis(url)];
  const vendor = new Vendor();
  let next = 0;
  let trips = 0;
  const client = () => clients[next++ % clients.length] as RedisClient;
  return {
    name: 'floor',
    async first(orderId) {
      const redis = client();
      const key = `${prefix}${orderId}`;
      trips++;
      if ((await redis.set(key, '{}', 'PX', TTL_MS, 'NX')) !== 'OK') return 'claim refused';
      const result = await vendor.fn();
      trips++;
      await redis.set(key, JSON.stringify(result), 'PX', TTL_MS);
      return outcome(result);
    },
    async replay(orderId) {
      trips++;
      const stored = await client().get(`${prefix}${orderId}`);
      return outcome(stored === null ? null : JSON.parse(stored));
    },
    get fnCalls() {
      return vendor.calls;
    },
    roundTrips: () => trips,
    close: async () => {
      await Promise.all(clients.map((c) => c.quit()));
    },
  };
}

/**
 * Postgres floor through a pg Pool: a first call is `INSERT` (claim; `ON CONFLICT DO NOTHING`),
 * the function, `UPDATE … SET result` — two single-statement autocommit writes, each its own
 * durable commit; a replay is one `SELECT` by primary key. In its own table of `schema`.
 *
 * `audited`: the floor with an audit row for every decision, as spendguard writes one — the
 * `UPDATE` and the replay's `SELECT` each also `INSERT` a row in the same statement, so a replay
 * is one round trip and one durable commit, the least an audited replay can cost (the plain
 * floor's replay commits nothing). Its tables go on close; the plain floor's close drops `schema`.
 */
export async function postgresFloor(
  pool: PgPool,
  schema: string,
  options: { audited?: boolean } = {},
): Promise<Contender> {
  const audited = options.audited ?? false;
  const table = `"${schema}".${audited ? 'audited' : 'floor'}`;
  const log = `"${schema}".audited_log`;
  await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  await pool.query(`CREATE TABLE ${table} (key text PRIMARY KEY, result jsonb)`);
  if (audited) {
    await pool.query(
      `CREATE TABLE ${log} (seq bigserial PRIMARY KEY, key text NOT NULL, decision text NOT NULL)`,
    );
  }
  /** The statement's audit row, when audited: a data-modifying WITH in front of it. */
  const logged = (decision: string) =>
    audited ? `WITH logged AS (INSERT INTO ${log} (key, decision) VALUES ($1, '${decision}')) ` : '';
  const vendor = new Vendor();
  let trips = 0;
  return {
    name: audited ? 'audited floor' : 'floor',
    async first(orderId) {
      trips++;
      const claim = await pool.query(`INSERT INTO ${table} (key) VALUES ($1) ON CONFLICT DO NOTHING`, [
        orderId,
      ]);
      if (claim.rowCount !== 1) return 'claim refused';
      const result = await vendor.fn();
      trips++;
      await pool.query(`${logged('executed')}UPDATE ${table} SET result = $2 WHERE key = $1`, [
        orderId,
        JSON.stringify(result),
      ]);
      return outcome(result);
    },
    async replay(orderId) {
      trips++;
      const found = await pool.query(`${logged('replayed')}SELECT result FROM ${table} WHERE key = $1`, [
        orderId,
      ]);
      return outcome((found.rows[0] as { result?: unknown } | undefined)?.result ?? null);
    },
    get fnCalls() {
      return vendor.calls;
    },
    roundTrips: () => trips,
    close: async () => {
      await pool.query(
        audited ? `DROP TABLE IF EXISTS ${log}, ${table}` : `DROP SCHEMA IF EXISTS "${schema}" CASCADE`,
      );
    },
  };
}

/**
 * AWS Powertools idempotency: `makeIdempotent` around the function, its payload (the charge
 * params, hashed whole) as the key, persisted by `CachePersistenceLayer` on one `@redis/client`
 * v6 connection. Outside Lambda it needs a context for the in-progress expiry (without one it
 * warns on every call and a crashed call's claim holds until the record expires): the config gets
 * one whose `getRemainingTimeInMillis` is spendguard's lease. Its local cache stays off (the
 * default): with it, a replay in the same process never reaches Redis, one in another process does.
 */
export async function powertools(url: string, prefix: string): Promise<Contender> {
  const client = createClient({ url, name: 'spendguard-bench-powertools' });
  client.on('error', () => {}); // a failed command rejects where it is awaited
  await client.connect();
  let trips = 0;
  // Its CacheClient interface, counted: each method is one Redis command.
  const counted = {
    get: (key: string) => {
      trips++;
      return client.get(key);
    },
    set: (key: string | Uint8Array, value: unknown, options?: unknown) => {
      trips++;
      return client.set(key as string, value as string, options as SetOptions);
    },
    del: (keys: string[]) => {
      trips++;
      return client.del(keys);
    },
  };
  const config = new IdempotencyConfig({});
  config.registerLambdaContext({ getRemainingTimeInMillis: () => LEASE_MS });
  const vendor = new Vendor();
  const charge = makeIdempotent(async (_params: ChargeParams) => vendor.fn(), {
    persistenceStore: new CachePersistenceLayer({ client: counted }),
    config,
    keyPrefix: prefix,
  });
  const call = async (orderId: string) => outcome(await charge(chargeParams(orderId)));
  return {
    name: 'powertools',
    first: call,
    replay: call,
    get fnCalls() {
      return vendor.calls;
    },
    roundTrips: () => trips,
    close: async () => {
      await client.close();
    },
  };
}

type StorageAdapter = ConstructorParameters<typeof Idempotency>[0];

/**
 * @node-idempotency/core: `onRequest` (claim, or the stored response), the function, then
 * `onResponse` with its result, as its README shows; the order id is the `Idempotency-Key`
 * header and the params the body it fingerprints.
 */
function nodeIdempotency(name: string, storage: StorageAdapter, prefix: string, close: () => Promise<void>) {
  let trips = 0;
  // Its StorageAdapter interface, counted: on Redis each method is one command.
  const counted: StorageAdapter = {
    setIfNotExists: (key, value, options) => {
      trips++;
      return storage.setIfNotExists(key, value, options);
    },
    set: (key, value, options) => {
      trips++;
      return storage.set(key, value, options);
    },
    get: (key) => {
      trips++;
      return storage.get(key);
    },
  };
  const idempotency = new Idempotency(counted, { cacheKeyPrefix: prefix, cacheTTLMS: TTL_MS });
  const vendor = new Vendor();
  const call = async (orderId: string): Promise<Outcome> => {
    const request: IdempotencyParams = {
      method: 'POST',
      path: '/v1/charges',
      headers: { 'idempotency-key': orderId },
      body: chargeParams(orderId),
    };
    const stored = await idempotency.onRequest<Charge, unknown>(request);
    if (stored) return outcome(stored.body);
    let result: Charge;
    try {
      result = await vendor.fn();
    } catch (error) {
      await idempotency.onResponse(request, { error });
      throw error;
    }
    await idempotency.onResponse(request, { body: result });
    return outcome(result);
  };
  const contender: Contender = {
    name,
    first: call,
    replay: call,
    get fnCalls() {
      return vendor.calls;
    },
    roundTrips: () => trips,
    close,
  };
  return contender;
}

/** @node-idempotency on its Redis adapter (one node-redis v4 connection of its own). */
export async function nodeIdempotencyRedis(url: string, prefix: string): Promise<Contender> {
  const adapter = new RedisStorageAdapter({ url, name: 'spendguard-bench-node-idempotency' });
  await adapter.connect();
  return nodeIdempotency('node-idempotency', adapter, prefix, () => adapter.disconnect());
}

/** @node-idempotency on its memory adapter. */
export function nodeIdempotencyMemory(): Contender {
  return nodeIdempotency('node-idempotency memory', new MemoryStorageAdapter(), 'bench', async () => {});
}

/**
 * spendguard's `guard.execute` for the same charge on `token`'s key: `ran` when it decided
 * `executed`, `stored` when `replayed`, else `decision/code`.
 */
export function spendguard(guard: Guard, token: string, roundTrips: () => number): Contender {
  const vendor = new Vendor();
  const call = async (orderId: string): Promise<Outcome> => {
    const decision = await guard.execute(chargeRequest(token, orderId), vendor.fn);
    const expected =
      (decision.decision === 'executed' && decision.code === 'executed') ||
      (decision.decision === 'replayed' && decision.code === 'replayed');
    if (!expected) return `${decision.decision}/${decision.code}`;
    const got = outcome(decision.result);
    if (got !== 'ran' && got !== 'stored') return got;
    return decision.decision === 'executed' ? 'ran' : 'stored';
  };
  return {
    name: 'spendguard',
    first: call,
    replay: call,
    get fnCalls() {
      return vendor.calls;
    },
    roundTrips,
    close: async () => {},
  };
}

/** Delete every key under `prefix` (SCAN, then UNLINK in batches). */
export async function clearRedisPrefix(client: RedisClient, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [nextCursor, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = nextCursor;
    if (keys.length > 0) await client.unlink(...keys);
  } while (cursor !== '0');
}
