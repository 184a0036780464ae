// What the integrations scenario's load processes hand the harness over IPC: the n8n peer (the
// provider the health checks call) and the /ops client (connects the integrations, records the
// `integration.health` events).

export type N8nPeerReady = { url: string; apiKey: string };
/** The peer's questions: `stop` closes the stand-in, after which the peer sends its result and exits. */
export type N8nPeerRequest = { type: 'stop' };
export type N8nPeerResult = { cpuSeconds: number };

export type OpsClientReady = {
  /** Integrations connected (200 to `PUT /api/v1/integrations/n8n`). */
  connected: number;
  /** Connects that failed, by kind; never retried. */
  connectErrors: Record<string, number>;
  connectErrorSamples: string[];
  /** From the first connect until the last one answered. */
  connectMs: number;
  /** Connect request latencies (ms), one per successful connect. */
  connectLatencyMs: Float64Array;
  /** Sockets of tenant admins opened besides the ops one (each sees its own tenant only). */
  adminSockets: number;
};

/** The events one socket received inside the window. */
export type SocketEvents = {
  /** `integration.health` events received inside the window. */
  received: number;
  /** Receive time − Date.parse(integration.health.lastCheckedAt), in ms, one per event in the window. */
  latencyMs: Float64Array;
  /** When each of those arrived, in ms since the window opened (index for index). */
  receivedAtMs: Float64Array;
  /** Events of the window whose integration was unhealthy, and whose `changed` flag was set. */
  unhealthy: number;
  changed: number;
  /** Window events per integration (tenant index → count), for the ops socket; admin sockets: per socket. */
  perIntegration: Uint16Array;
  /** Events with no parseable lastCheckedAt (not measured). */
  unparseable: number;
};

export type OpsClientResult = {
  windowSeconds: number;
  ops: SocketEvents;
  admin: SocketEvents;
  /** Events of other tenants an admin socket received (must be 0: a tenant sees its own only). */
  adminForeignEvents: number;
  /** `integration.health` events received by the ops socket during the warm-up (before the window). */
  opsEventsInWarmup: number;
  /** Socket disconnections during the run, by reason. */
  disconnects: Record<string, number>;
  /** Whether the client kept up: CPU over the window and event-loop delay. */
  client: { cpuSeconds: number; eventLoopDelayMs: { p50: number; p99: number; max: number } };
};
