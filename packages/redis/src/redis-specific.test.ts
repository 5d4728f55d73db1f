import { randomBytes } from 'node:crypto';
import {
  createGuard,
  type ExecuteRequest,
  type PolicyDocument,
  StoreUnavailableError,
} from '@spendguard/core';
import type { AuditEntry, AuditQuery, BeginPlan, KeyRecord } from '@spendguard/core/store-kit';
import { chargeAudit, FakeClock } from '@spendguard/core/testing';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Connections } from './connections.ts';
import { BEGIN, FINISH, type LuaScript } from './lua/scripts.ts';
import { RedisStore } from './redis-store.ts';
import { TEST_REDIS_URL, testStores } from './test-helpers.ts';

const admin = new Redis(TEST_REDIS_URL);
afterAll(() => admin.quit());
const { open } = testStores('specific');

const POLICIES: PolicyDocument = {
  policies: {
    billing: {
      stripe: { allow: ['POST /v1/charges'] },
      caps: { perKey: 1000, perHour: 500, perDay: 800 },
      alerts: [50],
    },
  },
};

function charge(key: string, order: string, cents = 235): ExecuteRequest {
  return {
    key,
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    params: { amount: cents, currency: 'usd', order },
    cost: { amount: cents / 100, currency: 'usd' },
  };
}

async function clientsNamed(name: string): Promise<string[]> {
  const list = (await admin.call('CLIENT', ['LIST', 'TYPE', 'normal'])) as string;
  return list
    .split('\n')
    .filter((line) => line.includes(` name=${name} `))
    .map((line) => /\baddr=(\S+)/.exec(line)?.[1] as string);
}

/** Everything stored under a prefix, as text: keys and values. */
async function dump(prefix: string): Promise<string> {
  const keys = await admin.keys(`${prefix}*`);
  const parts: string[] = [];
  for (const key of keys) {
    const type = await admin.type(key);
    const value =
      type === 'hash'
        ? await admin.hgetall(key)
        : type === 'list'
          ? await admin.lrange(key, 0, -1)
          : type === 'zset'
            ? await admin.zrange(key, '0', '-1')
            : await admin.get(key);
    parts.push(key, JSON.stringify(value));
  }
  return parts.join('\n');
}

describe('RedisStore on a real Redis', () => {
  it('sends exactly 2 commands per execute once warm (EVALSHA begin, EVALSHA finish), as Redis sees them', async () => {
    const name = `sg-rtt-${randomBytes(4).toString('hex')}`;
    // The sealer's own commands (2 per batch, off the calls' path) are counted in audit-sealer.test.ts.
    const store = open({ redisOptions: { connectionName: name }, sealDelayMs: 3_600_000 });
    const guard = createGuard({ policies: POLICIES, store });
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    const vendor = async () => ({ id: 'ch_1' });
    for (let i = 0; i < 5; i++) await guard.execute(charge(root.token, `warm-${i}`, 1), vendor);

    const addrs = await clientsNamed(name);
    expect(addrs).toHaveLength(2); // the pool
    const seen: string[][] = [];
    // RESP2: ioredis 6 mis-parses a busy MONITOR stream over RESP3.
    const monitor = await new Redis(TEST_REDIS_URL, { protocol: 2 }).monitor();
    const marker = `marker-${randomBytes(4).toString('hex')}`;
    const done = new Promise<void>((resolve) => {
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (args[0]?.toLowerCase() === 'echo' && args[1] === marker) resolve();
        else if (addrs.includes(source)) seen.push(args);
      });
    });
    const before = store.stats;
    const calls = 25;
    for (let i = 0; i < calls; i++) {
      expect((await guard.execute(charge(root.token, `measured-${i}`, 1), vendor)).decision).toBe('executed');
    }
    const after = store.stats;
    await admin.echo(marker);
    await done;
    monitor.disconnect();

    expect(after.commands - before.commands).toBe(2 * calls);
    expect(after.sealCommands - before.sealCommands).toBe(0);
    expect(after.scriptLoads - before.scriptLoads).toBe(0);
    expect(seen).toHaveLength(2 * calls);
    expect(seen.every((args) => args[0]?.toLowerCase() === 'evalsha')).toBe(true);
    const bySha = (sha: string) => seen.filter((args) => args[1] === sha).length;
    expect(bySha(BEGIN.sha)).toBe(calls);
    expect(bySha(FINISH.sha)).toBe(calls);
    await guard.close();
  });

  it('keeps every key of a root under its hash tag, and holds no vault token or secret', async () => {
    const store = open();
    const clock = new FakeClock();
    const guard = createGuard({ policies: POLICIES, store, now: clock.now });
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    const run = await guard.keys.derive(root.token, { runId: 'r1' });
    await guard.execute(charge(run.token, 'ord_1'), async () => ({ id: 'ch_1' }));
    await guard.execute(charge(run.token, 'ord_1'), async () => ({ id: 'ch_1' })); // replay
    await store.seal();
    const keys = (await admin.keys(`${store.prefix}*`)).map((k) => k.slice(store.prefix.length)).sort();
    const global = keys.filter((k) => k.startsWith('{global}:'));
    expect(global).toEqual(
      ['audit', 'audit:head', 'audit:seq', 'cproot', 'keyids', 'keyroot', 'settled', 'tokens'].map(
        (k) => `{global}:${k}`,
      ),
    );
    const rooted = keys.filter((k) => !k.startsWith('{global}:'));
    expect(rooted.length).toBeGreaterThan(5);
    expect(rooted.every((k) => k.startsWith(`{${root.id}}:`))).toBe(true);
    expect(rooted).toContain(`{${root.id}}:ctr:${run.id}:life`);

    const text = await dump(store.prefix);
    expect(text).toContain(run.id);
    for (const token of [root.token, run.token]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(token.slice(-48)); // the secret part
    }
    await guard.close();
  });

  it('expires window counters and alert marks a grace period after the window ends; lifetime counters never', async () => {
    const store = open({ counterGraceMs: 60_000 });
    const clock = new FakeClock('2026-11-24T10:30:00.000Z');
    const guard = createGuard({ policies: POLICIES, store, now: clock.now });
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    await guard.execute(charge(root.token, 'ord_1', 30_000), async () => ({ id: 'ch_1' })); // $300: 60 % of the hour
    const p = store.layout.root(root.id);
    const hour = Math.floor(clock.now() / 3_600_000);
    const hourTtl = await admin.pttl(`${p}ctr:${root.id}:hour:${hour}`);
    expect(hourTtl).toBeLessThanOrEqual(30 * 60_000 + 60_000);
    expect(hourTtl).toBeGreaterThan(30 * 60_000 + 60_000 - 10_000);
    const dayTtl = await admin.pttl(`${p}ctr:${root.id}:day:2026-11-24`);
    expect(dayTtl).toBeGreaterThan(13.5 * 3_600_000);
    expect(await admin.pttl(`${p}ctr:${root.id}:life`)).toBe(-1);
    const marks = await admin.keys(`${p}mark:*`);
    expect(marks.length).toBeGreaterThan(0);
    for (const mark of marks) expect(await admin.pttl(mark)).toBeGreaterThan(0);
    expect(await store.getCounter(`${root.id}:life`)).toBe(300_000_000);
    expect(await store.getCounter('key_unknown:life')).toBe(0);
    await guard.close();
  });

  it('runs a script by SHA and sends its source once when Redis does not know it (NOSCRIPT)', async () => {
    const conn = new Connections({
      url: TEST_REDIS_URL,
      client: undefined,
      poolSize: 1,
      commandTimeoutMs: 2000,
      connectTimeoutMs: 2000,
      redisOptions: undefined,
    });
    const lua = `#!lua flags=no-writes\n-- ${randomBytes(8).toString('hex')}\nreturn ARGV[1]`;
    const { createHash } = await import('node:crypto');
    const script: LuaScript = { name: 'probe', lua, sha: createHash('sha1').update(lua).digest('hex') };
    expect(await conn.run(script, [], ['a'])).toBe('a');
    expect(conn.stats).toEqual({ commands: 2, scriptLoads: 1, sealCommands: 0 }); // EVALSHA → NOSCRIPT, then EVAL
    expect(await conn.run(script, [], ['b'])).toBe('b');
    expect(conn.stats).toEqual({ commands: 3, scriptLoads: 1, sealCommands: 0 });
    await conn.close();
  });

  it('works on a client it is given, and leaves that client open', async () => {
    const client = new Redis(TEST_REDIS_URL);
    const store = open({ client });
    const guard = createGuard({ policies: POLICIES, store });
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    expect((await guard.execute(charge(root.token, 'ord_1'), async () => ({ id: 'ch_1' }))).decision).toBe(
      'executed',
    );
    await guard.close();
    expect(await client.ping()).toBe('PONG');
    await client.quit();
    expect(() => new RedisStore({ client: new Redis({ lazyConnect: true, keyPrefix: 'x:' }) })).toThrow(
      /keyPrefix/,
    );
    expect(() => new RedisStore({ prefix: 'a{b}:' })).toThrow(/hash tags/);
  });

  it('closes its connections, and fails closed afterwards', async () => {
    const name = `sg-close-${randomBytes(4).toString('hex')}`;
    const store = open({ redisOptions: { connectionName: name }, poolSize: 3 });
    await store.getToken('t');
    await store.getToken('t');
    await store.getToken('t');
    expect(await clientsNamed(name)).toHaveLength(3);
    await store.close();
    await store.close();
    expect(await clientsNamed(name)).toHaveLength(0);
    await expect(store.getToken('t')).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('never puts the password in an error or a decision', async () => {
    const secret = 'hunter2-s3cret';
    const store = open({ url: `redis://:${secret}@127.0.0.1:1`, connectTimeoutMs: 300 });
    const error = await store.getToken('t').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(
      JSON.stringify([(error as Error).message, String((error as Error).cause), store.lastError]),
    ).not.toContain(secret);
    const conn = new Connections({
      url: `redis://user:${encodeURIComponent('p@ss w0rd')}@127.0.0.1:1`,
      client: undefined,
      poolSize: 1,
      commandTimeoutMs: 100,
      connectTimeoutMs: 100,
      redisOptions: { lazyConnect: true },
    });
    expect(conn.redact('bad auth p@ss w0rd and p%40ss%20w0rd')).toBe('bad auth [redacted] and [redacted]');
    await conn.close();
  });
});

describe('RedisStore reads and retention in chunks', () => {
  const T = 1_795_000_000_000;

  function entry(keyId: string, time: number): AuditEntry {
    return chargeAudit(keyId, null, time);
  }

  function key(id: string, runId: string | null): KeyRecord {
    return {
      id,
      parentId: null,
      rootId: id,
      chain: [id],
      policy: 'billing',
      narrowing: null,
      name: null,
      runId,
      createdAt: T,
      expiresAt: null,
      revokedAt: null,
    };
  }

  it('pages a filtered audit read across the 1000-row chunks, forwards and backwards', async () => {
    const store = open();
    const rare: number[] = [];
    for (let i = 1; i <= 2100; i++) {
      const row = await store.appendAudit(entry(i % 700 === 0 ? 'key_rare' : 'key_common', T + i));
      if (row.keyId === 'key_rare') rare.push(row.seq);
    }
    expect(rare).toEqual([700, 1400, 2100]);
    const seqs = async (query: AuditQuery) => (await store.readAudit(query)).map((r) => r.seq);
    expect(await seqs({ keyId: 'key_rare' })).toEqual(rare);
    expect(await seqs({ keyId: 'key_rare', afterSeq: 700, limit: 1 })).toEqual([1400]);
    expect(await seqs({ keyId: 'key_rare', beforeSeq: 2100, limit: 2 })).toEqual([700, 1400]);
    expect(await seqs({ keyId: 'key_rare', fromTime: T + 1401 })).toEqual([2100]);
    const unfiltered = await seqs({ afterSeq: 990, limit: 20 });
    expect(unfiltered).toEqual(Array.from({ length: 20 }, (_, i) => 991 + i));
    expect(await seqs({ beforeSeq: 1005, limit: 10 })).toEqual(Array.from({ length: 10 }, (_, i) => 995 + i));
  });

  it('lists keys by id across the 500-key chunks, and adopts ids an older version listed in insertion order', async () => {
    const store = open();
    const ids = Array.from({ length: 1100 }, (_, i) => `key_${String(1099 - i).padStart(4, '0')}`);
    await Promise.all(ids.map((id, i) => store.insertKey(key(id, i % 400 === 0 ? 'run-rare' : null))));
    const sorted = [...ids].sort();
    expect((await store.listKeys()).map((k) => k.id)).toEqual(sorted);
    expect((await store.listKeys({ runId: 'run-rare' })).map((k) => k.id)).toEqual([
      'key_0299',
      'key_0699',
      'key_1099',
    ]);
    expect((await store.listKeys({ afterId: 'key_0450', limit: 100 })).map((k) => k.id)).toEqual(
      sorted.slice(451, 551),
    );

    // As an older version left them: no sorted ids, a list in insertion order.
    const global = store.layout.global;
    await admin.del(`${global}keyids`);
    await admin.rpush(`${global}keylist`, ...ids);
    expect((await store.listKeys()).map((k) => k.id)).toEqual(sorted);
    expect(await admin.exists(`${global}keylist`)).toBe(0);
  });

  it('prunes approvals past the ones it keeps, chunk after chunk', async () => {
    const store = open();
    await store.insertKey(key('key_root', null));
    const HOUR = 3_600_000;
    const names = Array.from({ length: 1200 }, (_, i) => `a${String(i).padStart(4, '0')}`);
    const plan = (name: string): BeginPlan => ({
      now: T,
      chain: ['key_root'],
      keyId: 'key_root',
      checkpointId: `cp_${name}`,
      checkpointKey: name,
      fingerprint: `fp_${name}`,
      leaseMs: 30_000,
      dedupWindowMs: HOUR,
      vendorIdempotent: true,
      costMicros: 0,
      windows: [],
      rates: [],
      approval: {
        id: `apr_${name}`,
        checkpointId: `cp_${name}`,
        keyId: 'key_root',
        vendor: 'stripe',
        operation: 'POST /v1/refunds',
        costMicros: 0,
        fingerprint: `fp_${name}`,
        account: null,
        recipient: null,
        ttlMs: 2 * HOUR,
        createdAt: T,
      },
      audit: entry('key_root', T),
    });
    await Promise.all(names.map((name) => store.begin(plan(name))));
    // Every other one approved (still usable at T + 1h), the rest denied: kept and pruned interleave.
    await Promise.all(
      names.map((name, i) =>
        store.decideApproval({
          id: `apr_${name}`,
          verdict: i % 2 === 0 ? 'approved' : 'denied',
          by: null,
          reason: null,
          now: T,
          audit: (a) => entry(a.keyId, T),
        }),
      ),
    );
    expect(await store.prune({ now: T + HOUR, approvalsOlderThanMs: 1 })).toMatchObject({ approvals: 600 });
    const left = await Promise.all(names.map((name) => store.getApproval(`apr_${name}`)));
    expect(left.map((a) => a?.state ?? 'pruned')).toEqual(
      names.map((_, i) => (i % 2 === 0 ? 'approved' : 'pruned')),
    );
  });
});
