// Routes calls to actors wherever they live: on this node through its actor host, or to the owning
// node through the forwarding client (cluster mode). While an actor moves between nodes (handoff,
// failover) a call retries with jittered backoff until its deadline and then answers a retryable
// SERVICE_UNAVAILABLE; a forwarded call is never forwarded again — its sender re-locates instead.
// Sessions and integrations route through one of these each (see SessionService, IntegrationService).
import { setTimeout as sleep } from 'node:timers/promises';
import { NotOwner, OwnerGone, type Location, type Placement } from '../../actors/placement.ts';
import { AppError } from '../../shared/errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';

/** Which service a forwarded call belongs to (the owner dispatches on it). */
export type ServiceName = 'sessions' | 'integrations';

/** What a forwarded call carries: the service and its call, V8-serialized (server/cluster/forwarding.ts). */
export type ForwardedCall = { service: ServiceName; call: unknown };

/** Forwards a call to the node that owns its actor (server/cluster/forwarding.ts). */
export type RemoteCalls = { call(location: Location & { kind: 'remote' }, call: ForwardedCall, timeoutMs: number): Promise<unknown> };

/** An error the caller sees as `rethrow`, unless one fresh activation may answer differently (`retryOnce`). */
export type SpecialFailure = { rethrow: Error; retryOnce: boolean };

export type ActorRouterOptions<Call extends { op: string }> = {
  service: ServiceName;
  placement: Placement;
  remote: RemoteCalls | undefined;
  log: Logger;
  metrics: Metrics;
  /** The actor key a call addresses (its placement key). */
  keyOf(call: Call): string;
  /** Runs the call on this node's actor; NotOwner when this node cannot serve it right now. */
  execute(call: Call): Promise<unknown>;
  /** Failures that are neither AppError nor NotOwner but have their own answer. */
  special?(error: unknown): SpecialFailure | undefined;
};

/**
 * How long a call keeps looking for its actor's owner while it moves (failover takes up to a lease
 * TTL) before answering SERVICE_UNAVAILABLE; below the SDK's 10 s ack timeout.
 */
const ROUTE_DEADLINE_MS = 8_000;
const ATTEMPT_TIMEOUT_MS = 3_000;
/** The shortest pause between two attempts, so a call never spins on Redis. */
const MIN_PAUSE_MS = 10;
const backoffMs = (attempt: number) => Math.min(25 * 2 ** attempt, 500) * (0.5 + Math.random() / 2);

export class ActorRouter<Call extends { op: string }> {
  readonly #options: ActorRouterOptions<Call>;

  constructor(options: ActorRouterOptions<Call>) {
    this.#options = options;
  }

  /** Runs `call` where its actor lives; `forwarded`: another node sent it here as the owner. */
  async route(call: Call, forwarded = false): Promise<unknown> {
    const { placement, remote, metrics, service } = this.#options;
    const key = this.#options.keyOf(call);
    const deadline = performance.now() + ROUTE_DEADLINE_MS;
    const what = service === 'sessions' ? 'session' : 'integration';
    let retriedOnce = false;
    for (let attempt = 0; ; attempt += 1) {
      try {
        const location = await placement.locate(key);
        if (location.kind === 'local') return await this.#options.execute(call);
        if (forwarded || !remote) throw new NotOwner(`${key} is owned by ${location.nodeId}`);
        metrics.clusterRoutedCalls.inc({ op: call.op });
        // One attempt may not use the whole deadline: an owner that accepts connections but never
        // answers (frozen) must not hold the call past the moment its lease expires.
        const timeoutMs = Math.max(250, Math.min(ATTEMPT_TIMEOUT_MS, deadline - performance.now()));
        return await remote.call(location, { service, call }, timeoutMs);
      } catch (error) {
        if (error instanceof AppError) throw error;
        const special = this.#options.special?.(error);
        if (special) {
          if (!special.retryOnce || retriedOnce) throw special.rethrow;
          retriedOnce = true;
          placement.forget(key);
          continue;
        }
        if (!(error instanceof NotOwner)) {
          // The database or Redis failed under the call: the change was not made (or not acked).
          // Retryable, so a live client keeps its edit queued instead of dropping it as refused.
          this.#options.log.error({ err: error, key, op: call.op }, `${service} call failed`);
          throw new AppError('SERVICE_UNAVAILABLE', `the ${what} could not be reached; retry`, { retryable: true });
        }
        if (forwarded) throw error; // the sender re-locates
        placement.forget(key);
        if (error instanceof OwnerGone) placement.unreachable(error.nodeId);
        // Back off, but wake when a dead owner's lease expires if that comes first (a leaving node
        // may release it sooner, so the expiry is a bound, not the only moment worth checking).
        const pause = Math.max(MIN_PAUSE_MS, Math.min(backoffMs(attempt), error.retryInMs ?? Infinity));
        if (performance.now() + pause > deadline) {
          throw new AppError('SERVICE_UNAVAILABLE', `the ${what} is moving between nodes; retry`, { retryable: true });
        }
        metrics.clusterWrongOwnerRetries.inc();
        await sleep(pause);
      }
    }
  }
}
