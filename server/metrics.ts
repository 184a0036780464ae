// Prometheus metrics (prom-client). One registry per server instance, so several servers in one
// process (tests) do not mix their numbers.
import type { Middleware } from 'koa';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AppState } from './http/context.ts';

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics(nodeId: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ node: nodeId });
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequestDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method, route template and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    socketConnections: new Gauge({
      name: 'socketio_connections',
      help: 'Socket.IO connections open on this node, by namespace',
      labelNames: ['namespace'] as const,
      registers: [registry],
    }),
    socketAuthFailures: new Counter({
      name: 'socketio_auth_failures_total',
      help: 'Socket.IO handshakes refused, by error code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    sessionActorsActive: new Gauge({
      name: 'session_actors_active',
      help: 'Session actors activated on this node',
      registers: [registry],
    }),
    sessionActorEvents: new Counter({
      name: 'session_actor_events_total',
      help: 'Session actor lifecycle events: activated, passivated, failed (dropped)',
      labelNames: ['event'] as const,
      registers: [registry],
    }),
    sessionCommitSeconds: new Histogram({
      name: 'session_commit_seconds',
      help: "Duration of a node's batch transaction of live edits (every session that committed in the same turn), by outcome: committed or failed",
      labelNames: ['outcome'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    sessionCommitBatchUpdates: new Histogram({
      name: 'session_commit_batch_updates',
      help: 'Yjs updates in one committed batch transaction of live edits',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers: [registry],
    }),
    // Cluster mode (REDIS_URL): placement, leases, routing.
    clusterShardsOwned: new Gauge({ name: 'cluster_shards_owned', help: 'Shards whose lease this node holds', registers: [registry] }),
    clusterLeaseRenewSeconds: new Histogram({
      name: 'cluster_lease_renew_seconds',
      help: 'Round trip of one lease renewal script (all held shards at once)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    clusterLeaseRenewFailures: new Counter({
      name: 'cluster_lease_renew_failures_total',
      help: 'Lease renewals that did not reach Redis (the leases are kept until they may have expired)',
      registers: [registry],
    }),
    clusterSelfFences: new Counter({
      name: 'cluster_self_fences_total',
      help: 'Times this node stopped serving shards on its own (lease not renewed in time, lost or superseded)',
      registers: [registry],
    }),
    clusterEpochBumps: new Counter({ name: 'cluster_epoch_bumps_total', help: 'Shard leases taken (each under a new fencing epoch)', registers: [registry] }),
    clusterHandoffs: new Counter({ name: 'cluster_handoffs_total', help: 'Shards handed off (drained, flushed, released)', registers: [registry] }),
    clusterRoutedCalls: new Counter({
      name: 'cluster_routed_calls_total',
      help: 'Session calls (REST and live frames) forwarded to the owning node, by operation',
      labelNames: ['op'] as const,
      registers: [registry],
    }),
    clusterWrongOwnerRetries: new Counter({
      name: 'cluster_wrong_owner_retries_total',
      help: 'Session calls routed again because the node tried was not (or no longer) the owner',
      registers: [registry],
    }),
    // The outbox relay to Kafka (KAFKA_BROKERS).
    outboxRelayLeader: new Gauge({
      name: 'outbox_relay_leader',
      help: '1 while this node is the one relaying the outbox to Kafka, else 0',
      registers: [registry],
    }),
    outboxRelayLagSeconds: new Gauge({
      name: 'outbox_relay_lag_seconds',
      help: 'Age of the oldest outbox event not yet acknowledged by Kafka (0 when there is none)',
      registers: [registry],
    }),
    outboxEventsPublished: new Counter({
      name: 'outbox_events_published_total',
      help: 'Outbox events published to Kafka (acknowledged) by this node, by topic',
      labelNames: ['topic'] as const,
      registers: [registry],
    }),
    outboxPublishFailures: new Counter({
      name: 'outbox_publish_failures_total',
      help: 'Relay rounds that failed and are retried after a backoff, by stage (kafka, database)',
      labelNames: ['stage'] as const,
      registers: [registry],
    }),
    dependencyUp: new Gauge({
      name: 'dependency_up',
      help: '1 when the last readiness check of the dependency passed, else 0',
      labelNames: ['dependency'] as const,
      registers: [registry],
    }),
    integrationActorsActive: new Gauge({
      name: 'integration_actors_active',
      help: 'Integration actors activated on this node',
      registers: [registry],
    }),
    integrationHealthChecks: new Histogram({
      name: 'integration_health_check_seconds',
      help: 'Health checks run by integration actors, by kind and outcome (healthy, unhealthy, circuit_open, rate_limited)',
      labelNames: ['kind', 'outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    integrationBreakerState: new Gauge({
      name: 'integration_breaker_state',
      help: "A provider's circuit breaker on this node: 0 closed, 1 half-open, 2 open (or isolated)",
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    integrationRateLimited: new Counter({
      name: 'integration_rate_limited_total',
      help: 'Outbound provider calls refused by the per-tenant, per-provider rate limit',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    webhookRequests: new Counter({
      name: 'webhook_requests_total',
      help: 'Inbound webhook requests, by provider and outcome (accepted, handshake, refused, invalid, unknown)',
      labelNames: ['provider', 'outcome'] as const,
      registers: [registry],
    }),
    inboundMessages: new Counter({
      name: 'inbound_messages_total',
      help: 'Inbound channel messages queued from webhooks, by channel and outcome (stored, duplicate)',
      labelNames: ['channel', 'outcome'] as const,
      registers: [registry],
    }),
  };
}

/** Times every request under its route template (not the raw path, which would explode labels). */
export function httpMetrics(metrics: Metrics): Middleware<AppState> {
  return async (ctx, next) => {
    const end = metrics.httpRequestDuration.startTimer();
    try {
      await next();
    } finally {
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      end({ method: ctx.method, route, status: String(ctx.status) });
    }
  };
}
