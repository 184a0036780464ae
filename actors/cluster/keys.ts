// Redis keys of one cluster. The `{cluster}` hash tag keeps them in one Redis Cluster slot, so the
// multi-key scripts below also run on a sharded Redis.
export type ClusterKeys = {
  /** Fencing epoch counter: INCR only, never expires, never deleted. */
  epoch: string;
  /** Shard count the cluster was started with: every node must agree. */
  shardCount: string;
  /** Sorted set: node id → heartbeat expiry (Redis server time, ms). */
  nodes: string;
  /** Hash: node id → JSON NodeInfo. */
  nodeInfo: string;
  lease(shard: number): string;
};

export function clusterKeys(prefix: string): ClusterKeys {
  const base = `${prefix}{cluster}`;
  return {
    epoch: `${base}:epoch`,
    shardCount: `${base}:shard-count`,
    nodes: `${base}:nodes`,
    nodeInfo: `${base}:node-info`,
    lease: (shard) => `${base}:lease:${shard}`,
  };
}
