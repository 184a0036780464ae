// Shard leases and the Redis placement against a real Redis (started by the global setup), with
// short leases so expiry, self-fencing and handoff happen within a test.
import { afterEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { createLogger } from '../../server/logger.ts';
import { requiredEnv, uniqueName } from '../../test/support/isolation.ts';
import { NotOwner, type Release } from '../placement.ts';
import { clusterKeys } from './keys.ts';
import { ShardLeases } from './leases.ts';
import { RedisPlacement } from './redis-placement.ts';
import { shardOf, targetOwners } from './shards.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = createLogger({ level: 'silent', nodeId: 'test' });
const connections: Redis[] = [];
const placements: RedisPlacement[] = [];

/** A connection like the server's lease connection (no offline queue), once it is ready. */
async function connect(): Promise<Redis> {
  const redis = new Redis(requiredEnv('TEST_REDIS_URL'), { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  connections.push(redis);
  await new Promise((resolve) => redis.once('ready', resolve));
  return redis;
}

afterEach(async () => {
  placements.splice(0).forEach((placement) => placement.stop());
  connections.splice(0).forEach((redis) => redis.disconnect());
});

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

function metrics() {
  const registers = [new Registry()];
  return {
    shardsOwned: new Gauge({ name: 'owned', help: 'h', registers }),
    leaseRenewSeconds: new Histogram({ name: 'renew', help: 'h', registers }),
    leaseRenewFailures: new Counter({ name: 'renew_failures', help: 'h', registers }),
    selfFences: new Counter({ name: 'fences', help: 'h', registers }),
    epochBumps: new Counter({ name: 'bumps', help: 'h', registers }),
    handoffs: new Counter({ name: 'handoffs', help: 'h', registers }),
  };
}

describe('shard leases', () => {
  it('are compare-and-set: one holder, fresh epochs, renew and release only under the epoch taken', async () => {
    const keys = clusterKeys(`${uniqueName('leases')}:`);
    const a = new ShardLeases(await connect(), keys, 'a', 300);
    const b = new ShardLeases(await connect(), keys, 'b', 300);
    const first = await a.acquire(0, 0);
    expect(first).toBe(1);
    expect(await b.acquire(0, 0)).toBeUndefined();
    expect(await b.renew([{ shard: 0, epoch: first! }])).toEqual([false]);
    expect(await b.release(0, first!)).toBe(false);
    expect(await a.renew([{ shard: 0, epoch: first! + 1 }])).toEqual([false]);
    expect(await a.renew([{ shard: 0, epoch: first! }])).toEqual([true]);
    expect(await a.get(0)).toEqual({ shard: 0, owner: 'a', epoch: first });
    // Expired: another node takes it under a higher epoch, and the old holder can neither renew nor release.
    await sleep(400);
    const second = await b.acquire(0, 0);
    expect(second).toBeGreaterThan(first!);
    expect(await a.renew([{ shard: 0, epoch: first! }])).toEqual([false]);
    expect(await a.release(0, first!)).toBe(false);
    expect(await b.release(0, second!)).toBe(true);
    expect(await b.get(0)).toBeUndefined();
  });

  it('start above the floor (the database epoch) when Redis lost its counter', async () => {
    const keys = clusterKeys(`${uniqueName('leases')}:`);
    const a = new ShardLeases(await connect(), keys, 'a', 1_000);
    expect(await a.acquire(3, 41)).toBe(42);
    expect(await a.acquire(4, 10)).toBe(43); // a lower floor never lowers the counter
  });
});

describe('redis placement', () => {
  function placement(redis: Redis, prefix: string, nodeId: string, releases: Release[] = [], ttl = 600) {
    const created = new RedisPlacement({
      redis,
      keyPrefix: prefix,
      nodeId,
      url: () => `http://${nodeId}.invalid`,
      shardCount: 16,
      leaseTtlMs: ttl,
      handoffConcurrency: 2,
      epochFloor: async () => 0,
      log,
      metrics: metrics(),
    });
    created.onRelease(async (release) => void releases.push(release));
    placements.push(created);
    return created;
  }

  /** Some key of each shard. */
  const keyOfShard = (shard: number) => {
    for (let i = 0; ; i += 1) if (shardOf(`key-${i}`, 16) === shard) return `key-${i}`;
  };

  it('splits the shards by rendezvous hashing; a joining node gets its shards through handoff', async () => {
    const prefix = `${uniqueName('placement')}:`;
    const releasedByA: Release[] = [];
    const a = placement(await connect(), prefix, 'a', releasedByA);
    await a.start();
    // Alone, a owns everything.
    await until(async () => (await a.view()).shards.every((shard) => shard.owner === 'a'));
    const b = placement(await connect(), prefix, 'b');
    await b.start();
    const targets = targetOwners(16, ['a', 'b']);
    await until(async () => (await a.view()).shards.every((shard) => shard.owner === targets[shard.shard]));
    const moved = targets.flatMap((owner, shard) => (owner === 'b' ? [shard] : []));
    expect(moved.length).toBeGreaterThan(0);
    // Each moved shard was handed off with a flush, and is served by b under a newer epoch.
    for (const shard of moved) {
      const key = keyOfShard(shard);
      expect(releasedByA.some((release) => release.flush && release.covers(key))).toBe(true);
      expect(await a.locate(key)).toEqual({ kind: 'remote', nodeId: 'b', url: 'http://b.invalid' });
      expect(await b.locate(key)).toEqual({ kind: 'local', epoch: expect.any(Number) });
    }
    expect((await a.view()).nodes.map((node) => node.id)).toEqual(['a', 'b']);
  });

  it('fences itself when it cannot renew, before another node can take over', async () => {
    const prefix = `${uniqueName('placement')}:`;
    const releasedByA: Release[] = [];
    const redisOfA = await connect();
    const a = placement(redisOfA, prefix, 'a', releasedByA);
    await a.start();
    const key = keyOfShard(5);
    const { epoch } = (await a.locate(key)) as { epoch: number };
    expect(a.holds(key, epoch)).toBe(true);
    // a loses Redis: its renewals fail; it must stop serving before the lease expires in Redis.
    redisOfA.disconnect();
    const lostAt = Date.now();
    await until(() => releasedByA.some((release) => !release.flush && release.covers(key)));
    // Within the TTL (600 ms) of the last renewal, which was at most a tick (120 ms) before.
    expect(Date.now() - lostAt).toBeLessThan(600);
    expect(a.holds(key, epoch)).toBe(false);
    await expect(a.epochFor(key)).rejects.toThrow('does not serve');
    // b then takes the shard under a higher epoch once the lease expired.
    const b = placement(await connect(), prefix, 'b');
    await b.start();
    await until(async () => (await b.locate(key).catch(() => undefined))?.kind === 'local', 3_000);
    expect(((await b.locate(key)) as { epoch: number }).epoch).toBeGreaterThan(epoch);
  });

  it('gives every shard up on leave, so the remaining node takes them at once', async () => {
    const prefix = `${uniqueName('placement')}:`;
    const releasedByA: Release[] = [];
    const a = placement(await connect(), prefix, 'a', releasedByA, 5_000);
    const b = placement(await connect(), prefix, 'b', [], 5_000);
    await a.start();
    await b.start();
    await until(async () => (await b.view()).shards.some((shard) => shard.owner === 'a'));
    const leftAt = Date.now();
    await a.leave();
    // Much sooner than the 5 s lease: released, not expired.
    await until(async () => (await b.view()).shards.every((shard) => shard.owner === 'b'), 4_000);
    expect(Date.now() - leftAt).toBeLessThan(4_000);
    expect(releasedByA.every((release) => release.flush)).toBe(true);
  });

  it('stops targeting a node whose address refused a connection, until it comes back as a new process', async () => {
    const prefix = `${uniqueName('placement')}:`;
    const redis = await connect();
    const a = placement(redis, prefix, 'a', [], 5_000);
    const b = placement(await connect(), prefix, 'b', [], 5_000);
    await a.start();
    await b.start();
    const targets = targetOwners(16, ['a', 'b']);
    await until(async () => (await b.view()).shards.every((shard) => shard.owner === targets[shard.shard]));
    const [held, freed] = targets.flatMap((owner, shard) => (owner === 'a' ? [shard] : []));
    // a dies (its loops stop; its leases and heartbeat run on); one of its leases has expired already.
    a.stop();
    await redis.del(clusterKeys(prefix).lease(freed!));
    const [heldKey, freedKey] = [keyOfShard(held!), keyOfShard(freed!)];
    expect(await b.locate(freedKey)).toEqual({ kind: 'remote', nodeId: 'a', url: 'http://a.invalid' });

    b.unreachable('a');
    b.forget(freedKey);
    // The free shard is b's at once, instead of after a's heartbeat expires; the held one waits for its lease.
    expect(await b.locate(freedKey)).toEqual({ kind: 'local', epoch: expect.any(Number) });
    b.forget(heldKey);
    const notOwner = await b.locate(heldKey).catch((error: unknown) => error);
    expect(notOwner).toBeInstanceOf(NotOwner);
    expect((notOwner as NotOwner).message).toContain('(a) is not a live node');
    // It says when to ask again: when a's lease runs out.
    expect((notOwner as NotOwner).retryInMs).toBeGreaterThan(0);
    expect((notOwner as NotOwner).retryInMs).toBeLessThanOrEqual(5_000);

    // A new process under the same id heartbeats with a new start time: targeted again.
    const again = placement(await connect(), prefix, 'a', [], 5_000);
    await again.start();
    await until(async () => (await b.view()).shards.every((shard) => shard.owner === targets[shard.shard]), 8_000);
  });

  it('refuses a node configured with another shard count', async () => {
    const prefix = `${uniqueName('placement')}:`;
    await placement(await connect(), prefix, 'a').start();
    const other = new RedisPlacement({
      redis: await connect(),
      keyPrefix: prefix,
      nodeId: 'b',
      url: () => 'http://b.invalid',
      shardCount: 32,
      leaseTtlMs: 600,
      handoffConcurrency: 2,
      epochFloor: async () => 0,
      log,
      metrics: metrics(),
    });
    placements.push(other);
    await expect(other.start()).rejects.toThrow('this cluster runs 16 shards; CLUSTER_SHARDS=32 must match');
  });
});
