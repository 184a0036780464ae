// Composition root: opens the dependencies the configuration selects, wires Koa and Socket.IO on
// one HTTP server, and knows how to shut all of it down in order.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { resolveJwtSecret } from './auth/local-secret.ts';
import { createTokenVerifier } from './auth/tokens.ts';
import { redactUrl, type Config } from './config.ts';
import { migrate, openDatabase, type Database } from './db/orm.ts';
import { LocalPlacement } from '../actors/placement.ts';
import { SessionStore } from '../actors/session/session-store.ts';
import { createApp } from './http/app.ts';
import { identityRoutes } from './http/identity-routes.ts';
import { onboardingRoutes } from './http/onboarding-routes.ts';
import { openApiDocument } from './http/openapi.ts';
import { startAbandonmentSweeper } from './sessions/abandonment.ts';
import { SessionService, type SessionCall } from './sessions/session-service.ts';
import { connectKafka, type KafkaConnection } from './infra/kafka.ts';
import { startOutboxRelay } from './events/outbox-relay.ts';
import { createCluster, type Cluster } from './cluster/cluster.ts';
import { FORWARD_PATH, forwardingHandler } from './cluster/forwarding.ts';
import { clusterRoutes } from './http/cluster-routes.ts';
import type { Logger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import type { DependencyCheck } from './readiness.ts';
import { attachSessionGateway } from './realtime/session-gateway.ts';
import { createSocketServer } from './realtime/socket-server.ts';
import { attachYjsWebSocket } from './realtime/yjs-websocket.ts';
import { IntegrationStore } from '../actors/integration/integration-store.ts';
import { credentialCipherFor } from './integrations/credentials.ts';
import { startHealthScheduler } from './integrations/health-scheduler.ts';
import { InboundStore } from './integrations/inbound-store.ts';
import { IntegrationService, type IntegrationCall } from './integrations/integration-service.ts';
import { createProviders } from './integrations/providers/index.ts';
import { INTEGRATION_KINDS } from './integrations/provider.ts';
import { OutboundLimits } from './integrations/rate-limits.ts';
import { ProviderCalls } from './integrations/resilience.ts';
import { integrationRoutes } from './http/integration-routes.ts';
import { webhookRouter } from './http/webhook-routes.ts';
import { attachOpsGateway } from './realtime/ops-gateway.ts';

const SERVER_VERSION = '0.1.0';

export type RunningServer = {
  url: string;
  port: number;
  db: Database;
  sessions: SessionService;
  /** Stop accepting, drain in-flight work (bounded by SHUTDOWN_TIMEOUT_MS), close everything. */
  stop(): Promise<void>;
};

/** A start-up failure that names the variable to fix; main prints it and exits non-zero. */
export class StartupError extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const metrics = createMetrics(config.NODE_ID);
  const verify = createTokenVerifier({
    secret: resolveJwtSecret(config),
    jwksUrl: config.JWT_JWKS_URL,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
  });

  const db = await openAndMigrateDatabase(config, log);

  const dependencies: DependencyCheck[] = [{ name: 'database', check: () => db.ping() }];
  let kafka: KafkaConnection | undefined;
  if (config.KAFKA_BROKERS !== undefined) {
    kafka = connectKafka({ brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID, log });
    dependencies.push({ name: 'kafka', check: () => kafka!.ping() });
  }

  const store = new SessionStore(db, ({ updates, seconds, ok }) => {
    metrics.sessionCommitSeconds.observe({ outcome: ok ? 'committed' : 'failed' }, seconds);
    if (ok) metrics.sessionCommitBatchUpdates.observe(updates);
  });
  const integrationStore = new IntegrationStore(db);
  // Shard epochs start above every epoch any actor kind wrote (sessions and integrations share shards).
  const maxEpoch = async () => Math.max(await store.maxEpoch(), await integrationStore.maxEpoch());
  let port = 0;
  const cluster: Cluster | undefined =
    config.REDIS_URL !== undefined && config.CLUSTER_SECRET !== undefined
      ? createCluster({
          config: { ...config, REDIS_URL: config.REDIS_URL, CLUSTER_SECRET: config.CLUSTER_SECRET },
          url: () => config.CLUSTER_ADVERTISE_URL ?? `http://${advertisedHost(config.HOST)}:${port}`,
          epochFloor: maxEpoch,
          log,
          metrics,
        })
      : undefined;
  if (cluster) dependencies.push({ name: 'redis', check: () => cluster.ready() });

  const placement = cluster?.placement ?? new LocalPlacement((await maxEpoch()) + 1);
  const sessions = new SessionService({
    store,
    placement,
    ...(cluster ? { remote: cluster.remote, relay: cluster.relay } : {}),
    log,
    metrics,
    idleMs: config.SESSION_IDLE_MS,
    maxDocumentBytes: config.MAX_DOCUMENT_BYTES,
    snapshotEveryUpdates: config.SESSION_SNAPSHOT_EVERY_UPDATES,
    snapshotEveryBytes: config.SESSION_SNAPSHOT_EVERY_BYTES,
    minDurationSamples: config.STEP_DURATION_MIN_SAMPLES,
    updateDecodeTimeoutMs: config.UPDATE_DECODE_TIMEOUT_MS,
  });
  const abandonment = startAbandonmentSweeper({
    store,
    sessions,
    abandonAfterMs: config.SESSION_ABANDON_AFTER_MS,
    log,
    serves: (sessionId: string) => placement.serves(sessionId),
  });

  // Integration actors: one per tenant and kind, placed on the same shards as sessions.
  const { cipher, note: keyNote } = credentialCipherFor(config);
  log.info(keyNote);
  const providers = createProviders({
    graphUrl: config.GRAPH_API_URL,
    graphVersion: config.GRAPH_API_VERSION,
    stripeApiUrl: config.STRIPE_API_URL,
    timeoutMs: config.INTEGRATION_CALL_TIMEOUT_MS,
    allowPrivateHosts: config.INTEGRATIONS_ALLOW_PRIVATE_HOSTS,
  });
  const breakerLevel = { closed: 0, 'half-open': 1, open: 2, isolated: 2 } as const;
  // Every breaker starts closed: dashboards see the series before the first change.
  for (const kind of INTEGRATION_KINDS) metrics.integrationBreakerState.set({ kind }, 0);
  const inbound = new InboundStore(db);
  const publicUrl = () => (config.PUBLIC_URL ?? `http://localhost:${port}`).replace(/\/+$/, '');
  const integrations = new IntegrationService({
    store: integrationStore,
    placement,
    ...(cluster ? { remote: cluster.remote } : {}),
    providers,
    calls: new ProviderCalls({
      callTimeoutMs: config.INTEGRATION_CALL_TIMEOUT_MS,
      attempts: config.INTEGRATION_CALL_ATTEMPTS,
      breakerThreshold: config.INTEGRATION_BREAKER_THRESHOLD,
      breakerHalfOpenAfterMs: config.INTEGRATION_BREAKER_HALF_OPEN_MS,
      onBreakerChange: (kind, state) => {
        metrics.integrationBreakerState.set({ kind }, breakerLevel[state]);
        log.warn({ kind, state }, 'integration circuit breaker changed state');
      },
    }),
    limits: new OutboundLimits({
      perMinute: config.INTEGRATION_RATE_LIMIT_PER_MINUTE,
      keyPrefix: config.REDIS_KEY_PREFIX,
      ...(cluster ? { redis: cluster.redis } : {}),
    }),
    cipher,
    inbound,
    checkIntervalMs: config.INTEGRATION_CHECK_INTERVAL_MS,
    backgroundTimeoutMs: 10 * 60_000,
    webhookUrl: (kind, id) => (['whatsapp', 'instagram', 'stripe'].includes(kind) ? `${publicUrl()}/api/v1/webhooks/${kind}/${id}` : null),
    // Scheduled checks keep an actor busy; one left idle (disabled, removed) goes after this.
    idleMs: Math.min(2 ** 31 - 1, Math.max(10 * 60_000, 3 * config.INTEGRATION_CHECK_INTERVAL_MS)),
    log: log.child({ component: 'integrations' }),
    metrics,
  });

  const routes = [
    ...identityRoutes(),
    ...onboardingRoutes(sessions, db),
    ...integrationRoutes(integrations, providers),
    ...(cluster ? clusterRoutes(cluster.placement) : []),
  ];

  let accepting = true;
  const app = createApp({
    log,
    metrics,
    verify,
    nodeId: config.NODE_ID,
    dependencies,
    readinessTimeoutMs: config.READINESS_TIMEOUT_MS,
    bodyLimitBytes: config.HTTP_BODY_LIMIT_BYTES,
    trustProxy: config.TRUST_PROXY,
    isAcceptingWork: () => accepting,
    routes,
    openApi: openApiDocument(routes, { version: SERVER_VERSION }),
    webhooks: webhookRouter({ targets: integrations, inbound, metrics, bodyLimitBytes: config.HTTP_BODY_LIMIT_BYTES, log }),
  });
  const koa = app.callback();
  // Calls other nodes forward to this one (signed; see server/cluster/forwarding.ts) bypass Koa:
  // they carry no user token, and their body is binary.
  const forwarded = cluster
    ? forwardingHandler({
        secret: config.CLUSTER_SECRET!,
        maxBodyBytes: Math.max(config.HTTP_BODY_LIMIT_BYTES, config.SOCKET_MAX_MESSAGE_BYTES) + 65_536,
        serve: ({ service, call }) => (service === 'sessions' ? sessions.serveForwarded(call as SessionCall) : integrations.serveForwarded(call as IntegrationCall)),
        log,
      })
    : undefined;
  const httpServer = http.createServer((req, res) => {
    if (forwarded && req.url === FORWARD_PATH) forwarded(req, res);
    else void koa(req, res);
  });
  // Idle keep-alive connections must not hold shutdown hostage past the drain deadline.
  httpServer.keepAliveTimeout = 5_000;
  const io = createSocketServer(httpServer, {
    verify,
    maxMessageBytes: config.SOCKET_MAX_MESSAGE_BYTES,
    log,
    metrics,
    ...(cluster ? { adapter: cluster.adapter } : {}),
  });
  const ops = attachOpsGateway(io.of('/ops'), { integrations, log });
  const sessionsNamespace = io.of('/sessions');
  cluster?.relay.bind(sessionsNamespace);
  const gateway = attachSessionGateway(sessionsNamespace, { sessions, log, updatesPerSecond: config.SOCKET_UPDATES_PER_SECOND });
  // The standard y-websocket endpoint (/yjs/<sessionId>) shares the HTTP server and the edit origins.
  const yjsWebSocket = attachYjsWebSocket(httpServer, {
    sessions,
    verify,
    log,
    maxMessageBytes: config.SOCKET_MAX_MESSAGE_BYTES,
    updatesPerSecond: config.SOCKET_UPDATES_PER_SECOND,
  });
  // Broadcasts sent while the adapter was cut off from Redis are lost (pub/sub is at-most-once):
  // this node's clients sync again.
  cluster?.onAdapterReconnect(() => {
    log.info('socket.io adapter reconnected to redis: live clients resync');
    gateway.resyncAll();
    yjsWebSocket.resyncAll();
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.PORT, config.HOST, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  port = (httpServer.address() as AddressInfo).port;
  // Joins the cluster only now: the others can reach this node from here on.
  await cluster?.placement.start();
  // Wakes the integrations this node owns; they schedule their own health checks.
  const healthScheduler = startHealthScheduler({
    store: integrationStore,
    integrations,
    scanEveryMs: Math.min(5_000, Math.max(500, config.INTEGRATION_CHECK_INTERVAL_MS / 2)),
    log,
  });
  // One node per cluster relays the outbox to Kafka (leader by a PostgreSQL advisory lock).
  const relay = kafka ? startOutboxRelay({ db, kafka, log, metrics }) : undefined;
  log.info({ port, database: db.dialect, cluster: !!cluster, kafka: !!kafka }, 'server listening');

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      accepting = false;
      log.info('shutting down: draining');
      // Shards first, while this node still answers forwarded calls: every session moves to another
      // node (flushed), and this node's own clients keep being served through forwarding meanwhile.
      await cluster?.placement.leave().catch((error: unknown) => log.warn({ err: error }, 'handoff on shutdown failed'));
      const drained = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeIdleConnections();
      // Socket.IO clients of every namespace are told to go (they reconnect to another node), and
      // engine.io connections in no namespace are closed: upgraded sockets would hold the drain.
      // `local`: with the Redis adapter, a plain disconnectSockets() would disconnect every node's clients.
      for (const namespace of ['/', '/sessions', '/ops']) io.of(namespace).local.disconnectSockets(true);
      io.engine.close();
      // y-websocket connections too (1001): upgraded sockets would otherwise hold httpServer.close().
      const yjsClosed = yjsWebSocket.close();
      const deadline = setTimeout(() => {
        log.warn({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'drain deadline reached: closing remaining connections');
        httpServer.closeAllConnections();
      }, config.SHUTDOWN_TIMEOUT_MS);
      await drained;
      clearTimeout(deadline);
      // Every acknowledged edit is already committed; this flushes snapshots and unloads actors.
      await abandonment.stop();
      await healthScheduler.stop();
      gateway.detach();
      ops.detach();
      await yjsClosed;
      await sessions.stop().catch((error: unknown) => log.warn({ err: error }, 'some sessions did not passivate cleanly'));
      await integrations.stop().catch((error: unknown) => log.warn({ err: error }, 'some integrations did not passivate cleanly'));
      cluster?.close();
      await relay?.stop();
      await Promise.allSettled([kafka?.close(), db.close()]);
      log.info('shut down');
    })());

  return { url: `http://127.0.0.1:${port}`, port, db, sessions, stop };
}

/** The host other nodes reach this one by, when CLUSTER_ADVERTISE_URL does not say. */
function advertisedHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? os.hostname() : host;
}

/** Opens the database and applies pending migrations; a failure names the variable to fix. */
async function openAndMigrateDatabase(config: Config, log: Logger): Promise<Database> {
  let db: Database | undefined;
  try {
    db = await openDatabase({
      databaseUrl: config.DATABASE_URL,
      dataDir: config.dataDir,
      poolMax: config.DATABASE_POOL_MAX,
      // A cluster node frozen mid-commit loses its transaction once its lease may have expired.
      ...(config.REDIS_URL !== undefined ? { idleInTransactionTimeoutMs: config.CLUSTER_LEASE_TTL_MS } : {}),
    });
    const applied = await migrate(db);
    if (applied.length > 0) log.info({ migrations: applied }, 'database migrated');
    return db;
  } catch (error) {
    await db?.close().catch(() => {});
    const where =
      config.DATABASE_URL !== undefined ? `DATABASE_URL=${redactUrl(config.DATABASE_URL)}` : `DATA_DIR=${config.dataDir}`;
    throw new StartupError(`cannot open the database (${where}): ${(error as Error).message}`, { cause: error });
  }
}
