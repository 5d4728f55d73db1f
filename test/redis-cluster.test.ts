/**
 * Several OS processes sharing one store on a real Redis Cluster (three masters this file starts
 * on loopback ports): the cap race of multiprocess.test.ts, exact to the cent, and one vendor call
 * for many identical calls, with every key the race wrote in the store's one slot.
 */
import { fileURLToPath } from 'node:url';
import { createGuard } from '@spendguard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterStore, startCluster, type TestCluster } from '../packages/redis/src/cluster-support.ts';
import { capRace, duplicateRace, race, racePolicies } from './support/race.ts';
import type { RedisClusterStoreArgs } from './support/redis-cluster-store-factory.ts';
import { testPrefix } from './support/redis-store-factory.ts';

const FACTORY = fileURLToPath(new URL('./support/redis-cluster-store-factory.ts', import.meta.url));

let cluster: TestCluster;
/** One hash tag per master: `[tag, master]`. */
let tags: [string, string][];
const stores: ClusterStore[] = [];

beforeAll(async () => {
  cluster = await startCluster();
  tags = [...(await cluster.tagsPerMaster('race'))].map(([master, tag]) => [tag, master]);
}, 60_000);

afterAll(async () => {
  for (const store of stores) await store.close();
  await cluster?.stop();
}, 30_000);

describe('four OS processes sharing one store on a 3-master Redis Cluster', () => {
  async function setup(label: string, capUsd: number, tagIndex: number) {
    const [hashTag, master] = tags[tagIndex] as [string, string];
    const args: RedisClusterStoreArgs = { nodes: [...cluster.nodes], prefix: testPrefix(label), hashTag };
    const store = new ClusterStore(args.nodes, args);
    stores.push(store);
    const guard = createGuard({ policies: racePolicies(capUsd), store });
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    const base = {
      store: { kind: 'module', path: FACTORY, args },
      policies: racePolicies(capUsd),
      token: root.token,
    } as const;
    return { guard, root, base, args, master };
  }

  /** Every key under the prefix is on `master`, in the slot of `{hashTag}`; returns how many. */
  async function keysInOneSlot({ prefix, hashTag }: RedisClusterStoreArgs, master: string): Promise<number> {
    const slot = await cluster.keySlot(`{${hashTag}}`);
    expect(await cluster.ownerOf(slot)).toBe(master);
    const byMaster = await cluster.keysByMaster(`${prefix}*`);
    for (const [other, keys] of byMaster) if (other !== master) expect(keys).toEqual([]);
    const keys = byMaster.get(master) ?? [];
    for (const key of keys) expect(await cluster.keySlot(key)).toBe(slot);
    return keys.length;
  }

  // $2.35 a call, 4 × 100 calls for a cap admitting 137: $321.95 < $322 < $324.30.
  it('admit exactly 137 of 400 calls racing for one cap, 0 overspend to the cent', async () => {
    const { guard, root, base, args, master } = await setup('cluster-cap', 322, 0);
    const reports = await race(capRace(base, 100));
    const executed = reports.reduce((n, r) => n + (r.decisions.executed ?? 0), 0);
    const capped = reports.reduce((n, r) => n + (r.decisions.cap_exceeded ?? 0), 0);
    expect(executed).toBe(137);
    expect(capped).toBe(400 - 137);
    expect(reports.reduce((n, r) => n + r.vendorCalls, 0)).toBe(137);
    expect(await guard.store.getCounter(`${root.id}:life`)).toBe(321_950_000);
    expect((await guard.spend(root.id)).lifetimeUsd).toBe(321.95);
    expect(reports.filter((r) => (r.decisions.executed ?? 0) > 0).length).toBeGreaterThan(1);
    expect(await guard.audit.verify()).toEqual({ ok: true, rows: 400 });
    // 137 checkpoints, the audit chain, counters and indexes: all in the tag's slot.
    expect(await keysInOneSlot(args, master)).toBeGreaterThan(137);
  });

  it('run the vendor once for 4 × 25 identical calls, on a store on another master', async () => {
    const { guard, base, args, master } = await setup('cluster-dup', 1000, 1);
    expect(master).not.toBe(tags[0]?.[1]);
    const reports = await race(duplicateRace(base));
    expect(reports.reduce((n, r) => n + r.vendorCalls, 0)).toBe(1);
    const ids = reports.flatMap((r) => r.resultIds);
    expect(ids).toHaveLength(100);
    expect(new Set(ids).size).toBe(1);
    expect(await guard.audit.verify()).toEqual({ ok: true, rows: 100 });
    expect(await keysInOneSlot(args, master)).toBeGreaterThan(0);
  });
});
