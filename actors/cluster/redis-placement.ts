// Cluster placement (REDIS_URL): actor keys hash onto a fixed number of virtual shards; each shard
// is owned by the node holding its Redis lease, under the lease's fencing epoch.
//
// Every tick a node (1) writes its heartbeat and reads the live members, (2) renews the leases it
// holds in one script, (3) takes free shards that rendezvous hashing assigns to it and (4) hands off
// held shards that hashing now assigns to another live node (a joining one), a few at a time: stop
// intake, drain and flush their actors, release. A node stops serving a shard on its own once its
// lease may have expired — judged on the monotonic clock from when the last successful renewal was
// *sent* — so it never serves past the moment another node can take over. Ownership is decided only
// by the leases (compare-and-set), never by pub/sub or keyspace notifications.
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Logger } from '../../server/logger.ts';
import { NotOwner, type Location, type Placement, type Release } from '../placement.ts';
import { clusterKeys } from './keys.ts';
import { ShardLeases, type Lease } from './leases.ts';
import { Membership, ShardCountMismatch, type Member } from './membership.ts';
import { rendezvousOwner, shardOf, targetOwners } from './shards.ts';

export type PlacementMetrics = {
  shardsOwned: { set(value: number): void };
  leaseRenewSeconds: { observe(value: number): void };
  leaseRenewFailures: { inc(): void };
  selfFences: { inc(): void };
  epochBumps: { inc(): void };
  handoffs: { inc(): void };
};

export type RedisPlacementOptions = {
  /** A connection that fails commands while offline (a late renewal is worse than a failed one). */
  redis: Redis;
  keyPrefix: string;
  nodeId: string;
  /** How other nodes reach this one (forwarded calls); known once the server listens. */
  url: () => string;
  shardCount: number;
  leaseTtlMs: number;
  /** Shards handed off at the same time when a node joins or leaves. */
  handoffConcurrency: number;
  /** The highest fencing epoch the database has seen (new epochs start above it). */
  epochFloor: () => Promise<number>;
  log: Logger;
  metrics: PlacementMetrics;
};

type HeldShard = {
  epoch: number;
  /** performance.now() after which the lease may have expired: stop serving before that. */
  validUntil: number;
  handingOff: boolean;
};

export type ClusterView = {
  node: string;
  shardCount: number;
  leaseTtlMs: number;
  nodes: (Member & { self: boolean })[];
  shards: { shard: number; owner: string | null; epoch: number | null; expiresInMs: number | null }[];
};

/** How long a looked-up remote owner is trusted before asking Redis again. */
const REMOTE_CACHE_MS = 1_000;

export class RedisPlacement implements Placement {
  readonly #options: RedisPlacementOptions;
  readonly #leases: ShardLeases;
  readonly #membership: Membership;
  readonly #held = new Map<number, HeldShard>();
  readonly #remote = new Map<number, { location: Location & { kind: 'remote' }; at: number }>();
  readonly #acquiring = new Map<number, Promise<number | undefined>>();
  readonly #listeners: ((release: Release) => Promise<void>)[] = [];
  readonly #startedAt = new Date().toISOString();
  /** Safety margin under the TTL: Redis starts the TTL after we sent the renewal, never before. */
  readonly #marginMs: number;
  /**
   * Members whose address refused a connection, by id: the process they were (`startedAt`) is
   * gone, though their heartbeat has not expired yet. Not targeted until `until` (one TTL, by which
   * the heartbeat has expired) or until they heartbeat as a new process.
   */
  readonly #gone = new Map<string, { startedAt: string; until: number }>();
  #members: Member[] = [];
  /** performance.now() when the member list was last read successfully. */
  #membersAt = -Infinity;
  #floor = 0;
  #floorStale = true;
  #leaving = false;
  #ticking = false;
  /** The running batch of handoffs (one batch at a time; the next tick starts the next). */
  #handingOff: Promise<void> | undefined;
  /** The shard count was checked against the cluster's (Redis was reachable once). */
  #agreed = false;
  #tickTimer: NodeJS.Timeout | undefined;
  #fenceTimer: NodeJS.Timeout | undefined;

  constructor(options: RedisPlacementOptions) {
    this.#options = options;
    const keys = clusterKeys(options.keyPrefix);
    this.#leases = new ShardLeases(options.redis, keys, options.nodeId, options.leaseTtlMs);
    this.#membership = new Membership(options.redis, keys, options.nodeId, options.leaseTtlMs);
    this.#marginMs = Math.max(100, options.leaseTtlMs / 10);
    // After Redis comes back it may have lost its data (leases and the epoch counter): re-read the
    // floor before acquiring, and renew at once, so a lease that vanished stops being served now
    // rather than at the next tick.
    options.redis.on('ready', () => {
      this.#floorStale = true;
      if (this.#tickTimer !== undefined) void this.#tick();
    });
  }

  /**
   * Joins the cluster: checks the shard count, takes the first shards, starts the loops. A shard
   * count other than the cluster's is fatal; an unreachable Redis is not — the node starts unready
   * and joins once Redis answers.
   */
  async start(): Promise<void> {
    // The connection is still being made at start-up (and must not queue): give it a moment.
    const { redis } = this.#options;
    if (redis.status !== 'ready') await Promise.race([once(redis, 'ready').catch(() => {}), sleep(this.#options.leaseTtlMs)]);
    try {
      await this.#agreeOnShardCount();
    } catch (error) {
      if (error instanceof ShardCountMismatch) throw error;
      this.#options.log.warn({ err: error }, 'redis unreachable: starting unready, joining once it answers');
    }
    await this.#tick();
    const tickMs = Math.max(50, Math.floor(this.#options.leaseTtlMs / 5));
    this.#tickTimer = setInterval(() => void this.#tick(), tickMs);
    this.#fenceTimer = setInterval(() => this.#fenceExpired(), Math.max(20, Math.floor(this.#options.leaseTtlMs / 20)));
  }

  /** True while this node's membership is current (readiness). */
  get joined(): boolean {
    return performance.now() - this.#membersAt < this.#options.leaseTtlMs && this.#members.some((m) => m.id === this.#options.nodeId);
  }

  /** Graceful leave: drop out of membership, hand every shard off, stop the loops. */
  async leave(): Promise<void> {
    this.#leaving = true;
    await this.#membership.leave().catch((error: unknown) => this.#options.log.warn({ err: error }, 'could not leave the membership'));
    // The others now target other nodes for these shards; release them a few at a time.
    await this.#handingOff;
    await this.#handoffAll([...this.#held.keys()]);
    this.stop();
  }

  /** Stops the loops (what is still held expires on its own). */
  stop(): void {
    clearInterval(this.#tickTimer);
    clearInterval(this.#fenceTimer);
  }

  onRelease(listener: (release: Release) => Promise<void>): void {
    this.#listeners.push(listener);
  }

  async locate(key: string): Promise<Location> {
    const shard = shardOf(key, this.#options.shardCount);
    const held = this.#held.get(shard);
    if (held) {
      if (held.handingOff || !this.#valid(held)) throw new NotOwner(`shard ${shard} is moving`);
      return { kind: 'local', epoch: held.epoch };
    }
    const cached = this.#remote.get(shard);
    if (cached && performance.now() - cached.at < REMOTE_CACHE_MS) return cached.location;
    const lease = await this.#leases.get(shard).catch((error: unknown) => {
      // Redis is unreachable: nobody can tell (or take) the owner now; the caller retries.
      throw new NotOwner(`cannot look up the owner of shard ${shard}: ${(error as Error).message}`);
    });
    if (lease) {
      if (lease.owner !== this.#options.nodeId && !this.#reachable(lease.owner)) {
        // The lease of a node that left the membership, or whose address refused a connection, is a
        // dead (or leaving) node's: nobody else can serve the shard before it expires or is released;
        // the caller hears when it expires.
        const expiresInMs = await this.#leases.expiresInMs(shard).catch(() => undefined);
        throw new NotOwner(`the owner of shard ${shard} (${lease.owner}) is not a live node`, expiresInMs);
      }
      return this.#remoteOwner(shard, lease.owner);
    }
    if (this.#leaving) throw new NotOwner(`shard ${shard} has no owner yet`);
    // Free: the target owner takes it — this node now, or the target when the call reaches it.
    const target = rendezvousOwner(shard, this.#liveIds());
    if (target === this.#options.nodeId) {
      const epoch = await this.#acquire(shard).catch((error: unknown) => {
        throw new NotOwner(`cannot take shard ${shard}: ${(error as Error).message}`);
      });
      if (epoch !== undefined) return { kind: 'local', epoch };
      throw new NotOwner(`shard ${shard} was taken by another node`);
    }
    if (target === undefined) throw new NotOwner(`no live node for shard ${shard}`);
    return this.#remoteOwner(shard, target);
  }

  async epochFor(key: string): Promise<number> {
    const held = this.#held.get(shardOf(key, this.#options.shardCount));
    if (!held || held.handingOff || !this.#valid(held)) throw new NotOwner(`${this.#options.nodeId} does not serve ${key}`);
    return held.epoch;
  }

  holds(key: string, epoch: number): boolean {
    const held = this.#held.get(shardOf(key, this.#options.shardCount));
    return held !== undefined && held.epoch === epoch && this.#valid(held);
  }

  /** Whether this node serves `key` now (sweepers act only on their own shards). */
  serves(key: string): boolean {
    const held = this.#held.get(shardOf(key, this.#options.shardCount));
    return held !== undefined && !held.handingOff && this.#valid(held);
  }

  superseded(key: string, seenEpoch: number): void {
    this.#floor = Math.max(this.#floor, seenEpoch);
    const shard = shardOf(key, this.#options.shardCount);
    const held = this.#held.get(shard);
    if (!held || held.epoch >= seenEpoch) return;
    // Our lease is older than what the database saw (Redis lost its counter): give it up; the next
    // tick takes it again above the floor.
    this.#options.log.warn({ shard, epoch: held.epoch, seenEpoch }, 'shard epoch superseded in the database');
    void this.#lose([shard], 'superseded').then(() => this.#leases.release(shard, held.epoch).catch(() => false));
  }

  forget(key: string): void {
    this.#remote.delete(shardOf(key, this.#options.shardCount));
  }

  unreachable(nodeId: string): void {
    const member = this.#members.find((m) => m.id === nodeId);
    if (!member || nodeId === this.#options.nodeId || this.#isGone(member)) return;
    this.#gone.set(nodeId, { startedAt: member.startedAt, until: performance.now() + this.#options.leaseTtlMs });
    this.#options.log.info({ refusingNode: nodeId }, 'node refused a connection: no longer targeted until its heartbeat expires');
  }

  /** Nodes, shards, owners and epochs, as Redis has them now (the ops view). */
  async view(): Promise<ClusterView> {
    const leases = await this.#leases.all(this.#options.shardCount);
    const byShard = new Map(leases.map((lease) => [lease.shard, lease]));
    return {
      node: this.#options.nodeId,
      shardCount: this.#options.shardCount,
      leaseTtlMs: this.#options.leaseTtlMs,
      nodes: this.#members.map((member) => ({ ...member, self: member.id === this.#options.nodeId })),
      shards: Array.from({ length: this.#options.shardCount }, (_, shard) => {
        const lease = byShard.get(shard);
        return { shard, owner: lease?.owner ?? null, epoch: lease?.epoch ?? null, expiresInMs: lease?.expiresInMs ?? null };
      }),
    };
  }

  /** Where one key lives (ops). */
  async lookup(key: string): Promise<{ shard: number; lease: Lease | undefined }> {
    const shard = shardOf(key, this.#options.shardCount);
    return { shard, lease: await this.#leases.get(shard) };
  }

  #valid(held: HeldShard): boolean {
    return performance.now() < held.validUntil;
  }

  /** Live members, less the ones known gone: free shards go to the nodes that can serve them. */
  #liveIds(): string[] {
    return this.#members.filter((member) => !this.#isGone(member)).map((member) => member.id);
  }

  #isGone(member: Member): boolean {
    const gone = this.#gone.get(member.id);
    if (!gone) return false;
    if (gone.startedAt === member.startedAt && performance.now() < gone.until) return true;
    this.#gone.delete(member.id);
    return false;
  }

  /** The member `nodeId` if calls can be forwarded to it: live, with an address, not known gone. */
  #reachable(nodeId: string): Member | undefined {
    const member = this.#members.find((m) => m.id === nodeId);
    return member !== undefined && member.url !== '' && !this.#isGone(member) ? member : undefined;
  }

  #remoteOwner(shard: number, nodeId: string): Location {
    if (nodeId === this.#options.nodeId) throw new NotOwner(`shard ${shard} is held by a stale lease of this node`);
    const member = this.#reachable(nodeId);
    if (!member) throw new NotOwner(`the owner of shard ${shard} (${nodeId}) is not a live node`);
    const location = { kind: 'remote' as const, nodeId, url: member.url };
    this.#remote.set(shard, { location, at: performance.now() });
    return location;
  }

  /** Takes a free shard; concurrent attempts for one shard (a tick and a request) share one script. */
  #acquire(shard: number): Promise<number | undefined> {
    let pending = this.#acquiring.get(shard);
    if (!pending) {
      pending = this.#takeLease(shard).finally(() => this.#acquiring.delete(shard));
      this.#acquiring.set(shard, pending);
    }
    return pending;
  }

  async #takeLease(shard: number): Promise<number | undefined> {
    if (this.#floorStale) {
      this.#floor = Math.max(this.#floor, await this.#options.epochFloor());
      this.#floorStale = false;
    }
    const sentAt = performance.now();
    const epoch = await this.#leases.acquire(shard, this.#floor);
    if (epoch === undefined) return undefined;
    this.#held.set(shard, { epoch, validUntil: sentAt + this.#options.leaseTtlMs - this.#marginMs, handingOff: false });
    this.#remote.delete(shard);
    this.#options.metrics.epochBumps.inc();
    this.#options.metrics.shardsOwned.set(this.#held.size);
    this.#options.log.info({ shard, epoch }, 'shard acquired');
    return epoch;
  }

  async #agreeOnShardCount(): Promise<void> {
    if (this.#agreed) return;
    await this.#membership.agreeOnShardCount(this.#options.shardCount);
    this.#agreed = true;
  }

  async #tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      await this.#agreeOnShardCount();
      const sentAt = performance.now();
      if (!this.#leaving) {
        try {
          this.#members = await this.#membership.heartbeat({ url: this.#options.url(), startedAt: this.#startedAt });
          this.#membersAt = sentAt;
        } catch (error) {
          this.#options.log.debug({ err: error }, 'heartbeat failed');
        }
      }
      await this.#renew();
      if (!this.#leaving && this.joined) await this.#rebalance();
    } catch (error) {
      this.#options.log.warn({ err: error }, 'placement tick failed');
    } finally {
      this.#ticking = false;
    }
  }

  async #renew(): Promise<void> {
    const held = [...this.#held].map(([shard, entry]) => ({ shard, epoch: entry.epoch }));
    if (held.length === 0) return;
    const sentAt = performance.now();
    let renewed: boolean[];
    try {
      renewed = await this.#leases.renew(held);
    } catch (error) {
      this.#options.metrics.leaseRenewFailures.inc();
      this.#options.log.debug({ err: error }, 'lease renewal failed');
      return; // the fence timer stops serving once the leases may have expired
    }
    this.#options.metrics.leaseRenewSeconds.observe((performance.now() - sentAt) / 1000);
    const lost: number[] = [];
    held.forEach(({ shard, epoch }, index) => {
      const entry = this.#held.get(shard);
      if (!entry || entry.epoch !== epoch) return;
      if (renewed[index]) entry.validUntil = sentAt + this.#options.leaseTtlMs - this.#marginMs;
      else lost.push(shard);
    });
    // Gone from Redis (expired while we could not renew, or Redis restarted) or taken over.
    if (lost.length > 0) await this.#lose(lost, 'lease lost');
  }

  /** The fence: shards whose lease may have expired stop being served, without waiting for Redis. */
  #fenceExpired(): void {
    const now = performance.now();
    const expired = [...this.#held].filter(([, entry]) => now >= entry.validUntil).map(([shard]) => shard);
    if (expired.length > 0) void this.#lose(expired, 'lease not renewed in time');
  }

  /** Stops serving shards at once (no flush: their state may already be someone else's). */
  async #lose(shards: number[], reason: string): Promise<void> {
    const lost = new Set(shards.filter((shard) => this.#held.delete(shard)));
    if (lost.size === 0) return;
    this.#options.metrics.selfFences.inc();
    this.#options.metrics.shardsOwned.set(this.#held.size);
    this.#options.log.warn({ shards: [...lost], reason }, 'self-fenced');
    await this.#notify({ covers: (key) => lost.has(shardOf(key, this.#options.shardCount)), flush: false });
  }

  async #rebalance(): Promise<void> {
    const targets = targetOwners(this.#options.shardCount, this.#liveIds());
    const me = this.#options.nodeId;
    const toAcquire = targets.flatMap((owner, shard) => (owner === me && !this.#held.has(shard) ? [shard] : []));
    const toHandOff = [...this.#held].flatMap(([shard, entry]) => (targets[shard] !== me && !entry.handingOff ? [shard] : []));
    await Promise.all(
      toAcquire.map((shard) =>
        this.#acquire(shard).catch((error: unknown) => this.#options.log.debug({ err: error, shard }, 'acquire failed')),
      ),
    );
    // In the background, a few at a time: the tick keeps renewing the other leases meanwhile.
    if (toHandOff.length > 0 && !this.#handingOff) {
      this.#handingOff = this.#handoffAll(toHandOff).finally(() => (this.#handingOff = undefined));
    }
  }

  /** Hands `shards` off with at most `handoffConcurrency` in flight. */
  async #handoffAll(shards: number[]): Promise<void> {
    const queue = [...shards];
    const worker = async () => {
      for (let shard = queue.shift(); shard !== undefined; shard = queue.shift()) await this.#handoff(shard);
    };
    await Promise.all(Array.from({ length: this.#options.handoffConcurrency }, worker));
  }

  /** Stop intake, drain and flush the shard's actors, release the lease. */
  async #handoff(shard: number): Promise<void> {
    const entry = this.#held.get(shard);
    if (!entry || entry.handingOff) return;
    entry.handingOff = true;
    try {
      await this.#notify({ covers: (key) => shardOf(key, this.#options.shardCount) === shard, flush: true });
      if (this.#held.get(shard) === entry) await this.#leases.release(shard, entry.epoch);
      this.#options.metrics.handoffs.inc();
      this.#options.log.info({ shard, epoch: entry.epoch }, 'shard released');
    } catch (error) {
      this.#options.log.warn({ err: error, shard }, 'handoff failed; the lease expires on its own');
    } finally {
      if (this.#held.get(shard) === entry) this.#held.delete(shard);
      this.#options.metrics.shardsOwned.set(this.#held.size);
    }
  }

  async #notify(release: Release): Promise<void> {
    const results = await Promise.allSettled(this.#listeners.map((listener) => listener(release)));
    for (const result of results) {
      if (result.status === 'rejected') this.#options.log.warn({ err: result.reason }, 'a shard release listener failed');
    }
  }
}
