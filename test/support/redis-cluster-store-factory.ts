/**
 * Makes a RedisStore on a Redis Cluster for a worker process (`store: { kind: 'module', path,
 * args }` in race-worker.ts): its own Cluster client, closed with the store so the worker exits.
 */
import { type ClusterNode, ClusterStore } from '../../packages/redis/src/cluster-support.ts';

export interface RedisClusterStoreArgs {
  nodes: ClusterNode[];
  prefix: string;
  hashTag: string;
}

export default function createRedisClusterStore(args: unknown): ClusterStore {
  const { nodes, prefix, hashTag } = args as RedisClusterStoreArgs;
  return new ClusterStore(nodes, { prefix, hashTag });
}
