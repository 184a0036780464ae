// Cluster membership: each node writes a heartbeat (a score = expiry, in Redis server time, so node
// clocks do not matter) and reads the live list back in the same script. Membership only chooses
// target owners; ownership itself is the lease (a node that is not listed cannot take a shard from
// one that still holds it).
import type { Redis } from 'ioredis';
import type { ClusterKeys } from './keys.ts';

/** What a node tells the others about itself. */
export type NodeInfo = { url: string; startedAt: string };
export type Member = NodeInfo & { id: string; expiresInMs: number };

// KEYS: nodes, node info. ARGV: node, ttl ms, info JSON. Prunes expired nodes, returns the live ones.
const HEARTBEAT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do redis.call('HDEL', KEYS[2], dead) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local live = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local result = {}
for i = 1, #live, 2 do
  result[#result + 1] = live[i]
  result[#result + 1] = tostring(tonumber(live[i + 1]) - now)
  result[#result + 1] = redis.call('HGET', KEYS[2], live[i]) or '{}'
end
return result
`;

export class ShardCountMismatch extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShardCountMismatch';
  }
}

type MembershipCommands = { clusterHeartbeat(nodes: string, info: string, node: string, ttlMs: number, infoJson: string): Promise<string[]> };

export class Membership {
  readonly #redis: Redis & MembershipCommands;
  readonly #keys: ClusterKeys;
  readonly #nodeId: string;
  readonly #ttlMs: number;

  constructor(redis: Redis, keys: ClusterKeys, nodeId: string, ttlMs: number) {
    redis.defineCommand('clusterHeartbeat', { numberOfKeys: 2, lua: HEARTBEAT });
    this.#redis = redis as Redis & MembershipCommands;
    this.#keys = keys;
    this.#nodeId = nodeId;
    this.#ttlMs = ttlMs;
  }

  /** Announces this node for another TTL; returns every live node (this one included), by id. */
  async heartbeat(info: NodeInfo): Promise<Member[]> {
    const flat = await this.#redis.clusterHeartbeat(this.#keys.nodes, this.#keys.nodeInfo, this.#nodeId, this.#ttlMs, JSON.stringify(info));
    const members: Member[] = [];
    for (let i = 0; i < flat.length; i += 3) {
      const parsed = JSON.parse(flat[i + 2]!) as Partial<NodeInfo>;
      members.push({ id: flat[i]!, expiresInMs: Number(flat[i + 1]), url: parsed.url ?? '', startedAt: parsed.startedAt ?? '' });
    }
    return members.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Leaves the cluster at once (graceful shutdown): the others stop targeting this node. */
  async leave(): Promise<void> {
    await this.#redis.multi().zrem(this.#keys.nodes, this.#nodeId).hdel(this.#keys.nodeInfo, this.#nodeId).exec();
  }

  /**
   * Records the shard count on first start and refuses a node configured differently: two shard
   * counts would hash one session to two shards, i.e. two owners.
   */
  async agreeOnShardCount(shardCount: number): Promise<void> {
    await this.#redis.set(this.#keys.shardCount, String(shardCount), 'NX');
    const agreed = Number(await this.#redis.get(this.#keys.shardCount));
    if (agreed !== shardCount) throw new ShardCountMismatch(`this cluster runs ${agreed} shards; CLUSTER_SHARDS=${shardCount} must match`);
  }
}
