/**
 * The store on a real Redis Cluster: three masters this file starts on loopback ports. The
 * conformance suite runs against it (stores spread over the masters by hash tag), and the key
 * layout is checked on the servers: every key a store writes is in its tag's slot, on the master
 * serving that slot, and stores with tags on different masters land on different masters.
 */
import { createGuard, type Guard, type PolicyDocument } from '@spendguard/core';
import { describeStoreConformance } from '@spendguard/core/testing';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from './cluster-support.ts';
import { RedisStore } from './redis-store.ts';
import { auditTampering, testPrefix } from './test-helpers.ts';

let cluster: TestCluster;
let client: Cluster;
/** One hash tag per master: `[tag, master]`, every master once. */
let tags: [string, string][];

beforeAll(async () => {
  cluster = await startCluster();
  client = cluster.client();
  client.on('error', () => {});
  tags = [...(await cluster.tagsPerMaster('sg'))].map(([master, tag]) => [tag, master]);
}, 60_000);

afterAll(async () => {
  client?.disconnect();
  await cluster?.stop();
}, 30_000);

const runPrefix = testPrefix('cluster');
let n = 0;

describeStoreConformance(
  'redis cluster (3 masters, hashTag)',
  () => {
    const [tag] = tags[n % tags.length] as [string, string];
    return new RedisStore({ client, hashTag: tag, prefix: `${runPrefix}${n++}:` });
  },
  auditTampering(() => client),
);

const AUDIT_KEY_ENV = 'SPENDGUARD_CLUSTER_TEST_AUDIT_KEY';
const POLICIES: PolicyDocument = {
  policies: {
    billing: {
      stripe: { allow: ['POST /v1/charges'] },
      caps: { perDay: 100 },
      rate: { perMinute: 100 },
      approval: { above: 20 },
      alerts: [50],
    },
  },
};

/**
 * Every kind of record: key records and a revocation, tokens, checkpoints (settled and replayed),
 * an approval, cap and rate counters, an alert mark, and the audit chain with its anchor.
 */
async function workload(guard: Guard): Promise<void> {
  const root = await guard.keys.issueRoot({ policy: 'billing' });
  const run = await guard.keys.derive(root.token, { runId: 'r1' });
  const charge = (order: string, usd: number) => ({
    key: run.token,
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    params: { amount: usd * 100, currency: 'usd', order },
    cost: { amount: usd, currency: 'usd' },
  });
  const vendor = async () => ({ id: 'ch_1' });
  expect((await guard.execute(charge('o1', 10), vendor)).code).toBe('executed');
  expect((await guard.execute(charge('o1', 10), vendor)).code).toBe('replayed');
  const asked = await guard.execute(charge('o2', 25), vendor);
  if (asked.decision !== 'needs_approval') throw new Error(`expected needs_approval, got ${asked.code}`);
  await guard.approvals.approve(asked.approvalId, { by: 'ops@example.com' });
  expect((await guard.execute(charge('o2', 25), vendor)).code).toBe('executed');
  expect((await guard.execute(charge('o3', 20), vendor)).code).toBe('executed'); // 55 % of the day: an alert
  expect((await guard.execute(charge('o4', 20), vendor)).code).toBe('executed');
  expect((await guard.execute(charge('o5', 20), vendor)).code).toBe('executed');
  expect((await guard.execute(charge('o6', 20), vendor)).code).toBe('cap_exceeded');
  expect(await guard.keys.revoke(run.id)).toBe(true);
  expect((await guard.execute(charge('o7', 1), vendor)).code).toBe('key_revoked');
  expect(await guard.audit.verify()).toMatchObject({ ok: true, rows: 10 });
}

/** `global:<name>` or `root:<kind>` for a key `<prefix>{<tag>}:…`: which record it holds. */
function kindOf(key: string, prefix: string, tag: string): string {
  const rest = key.slice(`${prefix}{${tag}}:`.length);
  if (rest.startsWith('global:')) return rest;
  const kind = /^root:[^:]+:([a-z]+)/.exec(rest)?.[1];
  return `root:${kind ?? rest}`;
}

describe('redis cluster: the hash-tagged layout', () => {
  const prefix = testPrefix('cluster-layout');
  const guards: Guard[] = [];
  afterAll(async () => {
    delete process.env[AUDIT_KEY_ENV];
    for (const guard of guards) await guard.close();
  });

  function open(tag: string, label: string): Guard {
    const store = new RedisStore({ client, hashTag: tag, prefix: `${prefix}${label}:` });
    const guard = createGuard({ policies: POLICIES, store, auditKey: { env: AUDIT_KEY_ENV } });
    guards.push(guard);
    return guard;
  }

  it('has three masters, and a tag on each', async () => {
    expect(cluster.nodes).toHaveLength(3);
    expect(new Set(tags.map(([, master]) => master)).size).toBe(3);
  });

  it('refuses a Cluster client without a hashTag', () => {
    expect(() => new RedisStore({ client, prefix })).toThrow(/hashTag/);
  });

  it('writes every key of a store in its tag’s one slot, on the master serving it', async () => {
    process.env[AUDIT_KEY_ENV] = 'cluster-test-anchor-key-0123456789';
    const [tag, master] = tags[0] as [string, string];
    await workload(open(tag, 'one'));

    const slot = await cluster.keySlot(`{${tag}}`);
    expect(await cluster.ownerOf(slot)).toBe(master);
    const byMaster = await cluster.keysByMaster(`${prefix}one:*`);
    const keys = byMaster.get(master) ?? [];
    for (const [other, found] of byMaster) if (other !== master) expect(found).toEqual([]);
    for (const key of keys) {
      expect(key.startsWith(`${prefix}one:{${tag}}:`)).toBe(true);
      expect(await cluster.keySlot(key)).toBe(slot);
    }
    const kinds = new Set(keys.map((key) => kindOf(key, `${prefix}one:`, tag)));
    expect([...kinds]).toEqual(
      expect.arrayContaining([
        'global:audit',
        'global:audit:head',
        'global:audit:anchor',
        'global:tokens',
        'global:keyroot',
        'global:cproot',
        'global:aproot',
        'global:keyids',
        'global:settled',
        'global:decided',
        'root:keys',
        'root:revoked',
        'root:cp',
        'root:apr',
        'root:ctr',
        'root:mark',
      ]),
    );
  });

  it('puts two stores whose tags are on different masters on those two masters, each chain whole', async () => {
    process.env[AUDIT_KEY_ENV] = 'cluster-test-anchor-key-0123456789';
    const [[tagA, masterA], [tagB, masterB]] = tags.slice(1) as [[string, string], [string, string]];
    expect(masterA).not.toBe(masterB);
    expect(await cluster.keySlot(`{${tagA}}`)).not.toBe(await cluster.keySlot(`{${tagB}}`));
    const a = open(tagA, 'a');
    const b = open(tagB, 'b');
    await Promise.all([workload(a), workload(b)]);

    const keysA = await cluster.keysByMaster(`${prefix}a:*`);
    const keysB = await cluster.keysByMaster(`${prefix}b:*`);
    for (const [master, keys] of keysA) {
      if (master === masterA) expect(keys.length).toBeGreaterThan(10);
      else expect(keys).toEqual([]);
    }
    for (const [master, keys] of keysB) {
      if (master === masterB) expect(keys.length).toBeGreaterThan(10);
      else expect(keys).toEqual([]);
    }
    // Same records, different tags: the two stores hold the same kinds of keys, side by side.
    expect((keysA.get(masterA) ?? []).length).toBe((keysB.get(masterB) ?? []).length);
    expect(await a.audit.verify()).toMatchObject({ ok: true, rows: 10 });
    expect(await b.audit.verify()).toMatchObject({ ok: true, rows: 10 });
  });
});
