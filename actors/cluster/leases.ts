// Shard leases in Redis. A lease is one key per shard holding `<node>|<epoch>` with a TTL; the epoch
// comes from a counter that never expires, so every acquisition is fenced above all earlier ones
// (DESIGN.md invariant 2). Acquire, renew and release are compare-and-set scripts: a node only ever
// extends or deletes a lease whose value is exactly what it acquired — never a bare DEL.
import type { Redis } from 'ioredis';
import type { ClusterKeys } from './keys.ts';

// KEYS: lease, epoch counter. ARGV: node, ttl ms, epoch floor.
// Free (or already ours, after we stopped trusting it): take it under a fresh epoch, raised first to
// the floor — the highest epoch the database has seen, in case Redis lost the counter in a restart.
const ACQUIRE = `
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, 1, string.len(ARGV[1]) + 1) ~= ARGV[1] .. '|' then
  return {0, current}
end
local floor = tonumber(ARGV[3])
if tonumber(redis.call('GET', KEYS[2]) or '0') < floor then redis.call('SET', KEYS[2], floor) end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. epoch, 'PX', ARGV[2])
return {1, tostring(epoch)}
`;

// KEYS: leases. ARGV: ttl ms, then the expected value of each lease. Returns 1/0 per lease.
const RENEW = `
local renewed = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1])
    renewed[i] = 1
  else
    renewed[i] = 0
  end
end
return renewed
`;

// KEYS: lease. ARGV: expected value.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export type Lease = { shard: number; owner: string; epoch: number };

type LeaseCommands = {
  leaseAcquire(lease: string, epoch: string, node: string, ttlMs: number, floor: number): Promise<[number, string]>;
  leaseRenew(...args: (string | number)[]): Promise<number[]>;
  leaseRelease(lease: string, value: string): Promise<number>;
};

function parseLease(shard: number, value: string | null): Lease | undefined {
  if (value === null) return undefined;
  const separator = value.lastIndexOf('|');
  return { shard, owner: value.slice(0, separator), epoch: Number(value.slice(separator + 1)) };
}

export class ShardLeases {
  readonly #redis: Redis & LeaseCommands;
  readonly #keys: ClusterKeys;
  readonly #nodeId: string;
  readonly #ttlMs: number;

  constructor(redis: Redis, keys: ClusterKeys, nodeId: string, ttlMs: number) {
    if (nodeId.includes('|')) throw new Error('a node id must not contain "|"');
    redis.defineCommand('leaseAcquire', { numberOfKeys: 2, lua: ACQUIRE });
    redis.defineCommand('leaseRenew', { lua: RENEW });
    redis.defineCommand('leaseRelease', { numberOfKeys: 1, lua: RELEASE });
    this.#redis = redis as Redis & LeaseCommands;
    this.#keys = keys;
    this.#nodeId = nodeId;
    this.#ttlMs = ttlMs;
  }

  /** Takes a free shard under a new epoch (at least `floor` + 1); undefined if another node holds it. */
  async acquire(shard: number, floor: number): Promise<number | undefined> {
    const [taken, value] = await this.#redis.leaseAcquire(this.#keys.lease(shard), this.#keys.epoch, this.#nodeId, this.#ttlMs, floor);
    return taken === 1 ? Number(value) : undefined;
  }

  /** Extends the leases this node holds under those epochs; true for each one still ours. */
  async renew(held: readonly { shard: number; epoch: number }[]): Promise<boolean[]> {
    if (held.length === 0) return [];
    const keys = held.map(({ shard }) => this.#keys.lease(shard));
    const values = held.map(({ epoch }) => `${this.#nodeId}|${epoch}`);
    const renewed = await this.#redis.leaseRenew(keys.length, ...keys, this.#ttlMs, ...values);
    return renewed.map((flag) => flag === 1);
  }

  /** Gives a shard up (only if still ours under `epoch`). */
  async release(shard: number, epoch: number): Promise<boolean> {
    return (await this.#redis.leaseRelease(this.#keys.lease(shard), `${this.#nodeId}|${epoch}`)) === 1;
  }

  /** The current lease of one shard. */
  async get(shard: number): Promise<Lease | undefined> {
    return parseLease(shard, await this.#redis.get(this.#keys.lease(shard)));
  }

  /** Milliseconds until one shard's lease expires; 0 if it is gone already. */
  async expiresInMs(shard: number): Promise<number> {
    return Math.max(0, await this.#redis.pttl(this.#keys.lease(shard)));
  }

  /** Every shard's lease and remaining time (the ops view). */
  async all(shardCount: number): Promise<(Lease & { expiresInMs: number })[]> {
    const pipeline = this.#redis.pipeline();
    for (let shard = 0; shard < shardCount; shard += 1) pipeline.get(this.#keys.lease(shard)).pttl(this.#keys.lease(shard));
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error !== null);
    if (failed) throw failed[0]!;
    const leases: (Lease & { expiresInMs: number })[] = [];
    for (let shard = 0; shard < shardCount; shard += 1) {
      const lease = parseLease(shard, results[shard * 2]?.[1] as string | null);
      if (lease) leases.push({ ...lease, expiresInMs: Number(results[shard * 2 + 1]?.[1] ?? -1) });
    }
    return leases;
  }
}
