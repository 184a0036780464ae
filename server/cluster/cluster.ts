// Cluster mode (REDIS_URL): the pieces that differ from the embedded default, in one place —
// Redis placement with fenced shard leases, node-to-node forwarding of session calls, and the
// Socket.IO Redis adapter, which carries room broadcasts (edits, transitions, awareness, presence)
// to every node and relays committed updates to the other nodes' y-websocket connections.
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import type { Namespace } from 'socket.io';
import { RedisPlacement } from '../../actors/cluster/redis-placement.ts';
import type { SessionBroadcast } from '../../actors/session/session-actor.ts';
import type { Config } from '../config.ts';
import { connectRedis } from '../infra/redis.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { BroadcastRelay } from '../sessions/session-service.ts';
import { ForwardingClient } from './forwarding.ts';

const RELAY_EVENT = 'cluster:committed';

/**
 * Committed updates for the y-websocket connections of other nodes, through the adapter's
 * server-side events (Socket.IO clients get theirs as room broadcasts, also through the adapter).
 */
class AdapterBroadcastRelay implements BroadcastRelay {
  #namespace: Namespace | undefined;
  readonly #listeners: ((broadcast: SessionBroadcast) => void)[] = [];

  bind(namespace: Namespace): void {
    this.#namespace = namespace;
    namespace.on(RELAY_EVENT, (broadcast: SessionBroadcast) => {
      for (const listener of this.#listeners) listener(broadcast);
    });
  }

  publish(broadcast: SessionBroadcast): void {
    // Transitions reach y-websocket clients as document updates already; only these matter there.
    if (broadcast.kind === 'session') return;
    this.#namespace?.serverSideEmit(RELAY_EVENT, broadcast);
  }

  subscribe(listener: (broadcast: SessionBroadcast) => void): void {
    this.#listeners.push(listener);
  }
}

export type Cluster = {
  placement: RedisPlacement;
  /** A connection for shared counters (rate limits); fails commands while Redis is unreachable. */
  redis: Redis;
  remote: ForwardingClient;
  relay: AdapterBroadcastRelay;
  /** The Socket.IO adapter factory (pass to `new Server({ adapter })`). */
  adapter: ReturnType<typeof createAdapter>;
  /** Called when the adapter's subscription came back after Redis was unreachable. */
  onAdapterReconnect(listener: () => void): void;
  /** Check for /readyz: Redis answers and this node's membership is current. */
  ready(): Promise<void>;
  close(): void;
};

export function createCluster(options: {
  config: Config & { REDIS_URL: string; CLUSTER_SECRET: string };
  /** How the other nodes reach this one (known once the server listens). */
  url: () => string;
  epochFloor: () => Promise<number>;
  log: Logger;
  metrics: Metrics;
}): Cluster {
  const { config, log, metrics } = options;
  // Leases and membership: a connection that never queues commands while offline.
  const leaseRedis = connectRedis(config.REDIS_URL, log);
  const placement = new RedisPlacement({
    redis: leaseRedis,
    keyPrefix: config.REDIS_KEY_PREFIX,
    nodeId: config.NODE_ID,
    url: options.url,
    shardCount: config.CLUSTER_SHARDS,
    leaseTtlMs: config.CLUSTER_LEASE_TTL_MS,
    handoffConcurrency: config.CLUSTER_HANDOFF_CONCURRENCY,
    epochFloor: options.epochFloor,
    log: log.child({ component: 'placement' }),
    metrics: {
      shardsOwned: metrics.clusterShardsOwned,
      leaseRenewSeconds: metrics.clusterLeaseRenewSeconds,
      leaseRenewFailures: metrics.clusterLeaseRenewFailures,
      selfFences: metrics.clusterSelfFences,
      epochBumps: metrics.clusterEpochBumps,
      handoffs: metrics.clusterHandoffs,
    },
  });
  // The adapter's own pair. Broadcasts are at-most-once anyway (clients resync after an outage), so
  // a publish fails fast while Redis is unreachable — and quietly: the adapter does not handle its
  // publish promises, and an unhandled rejection would end the process. The subscriber keeps
  // ioredis' offline queue, so its subscriptions are sent once Redis answers.
  const retryStrategy = (attempt: number) => Math.min(100 * 2 ** attempt, 2_000);
  const pub = new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy });
  const publish = pub.publish.bind(pub) as (channel: string | Buffer, message: string | Buffer) => Promise<number>;
  pub.publish = ((channel: string | Buffer, message: string | Buffer) => {
    const published = publish(channel, message);
    published.catch(() => {});
    return published;
  }) as typeof pub.publish;
  const sub = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null, retryStrategy });
  const reconnectListeners: (() => void)[] = [];
  let subscribedOnce = false;
  sub.on('ready', () => {
    if (subscribedOnce) reconnectListeners.forEach((listener) => listener());
    subscribedOnce = true;
  });
  return {
    placement,
    redis: leaseRedis,
    remote: new ForwardingClient(config.CLUSTER_SECRET),
    relay: new AdapterBroadcastRelay(),
    adapter: createAdapter(pub, sub, { key: `${config.REDIS_KEY_PREFIX}socket.io`, requestsTimeout: 2_000 }),
    onAdapterReconnect: (listener) => reconnectListeners.push(listener),
    ready: async () => {
      await leaseRedis.ping();
      if (!placement.joined) throw new Error('not a current member of the cluster (heartbeat failing)');
    },
    close: () => {
      placement.stop();
      // disconnect(), not quit(): it also stops reconnect attempts to a Redis that is down.
      for (const client of [leaseRedis, pub, sub]) client.disconnect();
    },
  };
}
