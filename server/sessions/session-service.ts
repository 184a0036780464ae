// The OnboardingService of the seed specification: what the REST routes and the realtime gateways
// call. It scopes every call to the caller's tenant, validates input, and routes each call to the
// session's actor: on this node through the actor host, or to the owning node through the
// forwarding client (cluster mode). It holds no session state of its own.
import crypto from 'node:crypto';
import { ActorFailure, ActorHost } from '../../actors/runtime.ts';
import { NotOwner, type Placement } from '../../actors/placement.ts';
import { ActorRouter, type RemoteCalls } from '../cluster/actor-router.ts';
import { sessionEvent } from '../../actors/session/events.ts';
import {
  RefusedAfterApply,
  SessionActor,
  type Caller,
  type SessionMessage,
  type SessionBroadcast,
  type SessionReply,
  type SessionView,
  type StepWrite,
  type SyncState,
  type UpdateWrite,
} from '../../actors/session/session-actor.ts';
import type { SessionStore } from '../../actors/session/session-store.ts';
import { StaleEpochError } from '../db/fenced-writes.ts';
import { AppError } from '../../shared/errors.ts';
import { initialMachineState } from '../../shared/step-machine.ts';
import type { StepId } from '../../shared/steps.ts';
import type { Logger } from '../logger.ts';
import { UpdateGuard } from './update-guard.ts';
import type { Metrics } from '../metrics.ts';

export type SessionServiceOptions = {
  store: SessionStore;
  placement: Placement;
  log: Logger;
  metrics: Metrics;
  idleMs: number;
  maxDocumentBytes: number;
  snapshotEveryUpdates: number;
  snapshotEveryBytes: number;
  /** Measured step durations are used once a step has this many samples. */
  minDurationSamples: number;
  /** Untrusted live updates must decode within this time (in a worker) to be applied. */
  updateDecodeTimeoutMs: number;
  /** Cluster mode: sends calls to the owning node. */
  remote?: RemoteCalls;
  /** Cluster mode: carries this node's broadcasts to the other nodes' listeners, and theirs here. */
  relay?: BroadcastRelay;
};

export type BroadcastRelay = { publish(broadcast: SessionBroadcast): void; subscribe(listener: (broadcast: SessionBroadcast) => void): void };

/** Where a broadcast comes from: this node's actor, or another node's (through the relay). */
export type BroadcastSource = 'local' | 'remote';

type TransitionMessage = Extract<SessionMessage, { caller: Caller; type: 'completeStep' | 'skipStep' | 'pause' | 'resume' | 'completeOnboarding' }>;

/** One call to a session, as routed to its owner (and serialized when forwarded). */
export type SessionCall =
  | { op: 'get'; tenantId: string; sessionId: string }
  | { op: 'updateStep'; caller: Caller; sessionId: string; stepId: StepId; patch: Record<string, unknown> }
  | { op: 'transition'; caller: Caller; sessionId: string; message: TransitionMessage }
  | { op: 'abandonIfInactive'; tenantId: string; sessionId: string; inactiveBefore: Date }
  | { op: 'encodeState'; tenantId: string; sessionId: string; stateVector?: Uint8Array }
  | { op: 'applyUpdate'; caller: Caller; sessionId: string; update: Uint8Array; origin: string }
  | { op: 'syncState'; tenantId: string; sessionId: string; stateVector: Uint8Array };

export type StepWriteResult = { stepId: StepId; data: Record<string, unknown>; updateId: number };

const NOT_FOUND = () => new AppError('ONBOARDING_SESSION_NOT_FOUND', 'no such onboarding session');
const DURATIONS_TTL_MS = 60_000;

export class SessionService {
  readonly #store: SessionStore;
  readonly #host: ActorHost<SessionMessage, SessionReply, SessionActor>;
  #durations: { at: number; value: Promise<Partial<Record<StepId, number>>> } | undefined;
  readonly #minDurationSamples: number;
  readonly #listeners = new Set<(broadcast: SessionBroadcast, source: BroadcastSource) => void>();
  readonly #guard: UpdateGuard;
  readonly #placement: Placement;
  readonly #router: ActorRouter<SessionCall>;

  constructor(options: SessionServiceOptions) {
    this.#store = options.store;
    this.#placement = options.placement;
    this.#router = new ActorRouter<SessionCall>({
      service: 'sessions',
      placement: options.placement,
      remote: options.remote,
      log: options.log,
      metrics: options.metrics,
      keyOf: (call) => call.sessionId,
      execute: (call) => this.#execute(call),
      // Missing dependencies may be this activation's fault (it was stale and is now dropped): route
      // once more to a fresh one; a second refusal is the client's to resolve by syncing.
      special: (error) => (error instanceof RefusedAfterApply ? { rethrow: error.appError, retryOnce: error.missingDependencies } : undefined),
    });
    this.#minDurationSamples = options.minDurationSamples;
    this.#guard = new UpdateGuard({ timeoutMs: options.updateDecodeTimeoutMs, maxHeapMb: 64 });
    const deps = {
      store: options.store,
      placement: options.placement,
      log: options.log,
      maxDocumentBytes: options.maxDocumentBytes,
      snapshotEveryUpdates: options.snapshotEveryUpdates,
      snapshotEveryBytes: options.snapshotEveryBytes,
      measuredStepMinutes: () => this.#measuredStepMinutes(),
      // Other nodes' completions reach this cache within its TTL; this node's at once.
      onDurationRecorded: () => (this.#durations = undefined),
      publish: (broadcast: SessionBroadcast) => {
        for (const listener of this.#listeners) listener(broadcast, 'local');
        options.relay?.publish(broadcast);
      },
    };
    options.relay?.subscribe((broadcast) => {
      for (const listener of this.#listeners) listener(broadcast, 'remote');
    });
    this.#host = new ActorHost({
      idleMs: options.idleMs,
      activate: (id, context) => SessionActor.activate(id, context, deps),
      onEvent: (event, id, error) => {
        options.metrics.sessionActorEvents.inc({ event });
        options.metrics.sessionActorsActive.set(this.#host.size);
        if (event === 'failed') options.log.warn({ sessionId: id, err: error }, 'session actor dropped');
      },
    });
    // Shards this node gives up: flush their actors (handoff) or drop them unflushed (fenced).
    options.placement.onRelease(async ({ covers, flush }) => {
      const ids = this.#host.activeIds().filter(covers);
      if (flush) await Promise.allSettled(ids.map((id) => this.#host.passivate(id)));
      else ids.forEach((id) => this.#host.drop(id));
    });
  }

  /** Starts the tenant's onboarding, or returns its live session (idempotent). */
  async start(caller: Caller): Promise<{ view: SessionView; created: boolean }> {
    const { tenantId, userId, role } = caller.principal;
    const id = crypto.randomUUID();
    const now = new Date().toISOString();
    const machine = initialMachineState(now);
    const record = { id, tenantId, createdBy: userId, status: machine.status, currentStep: machine.currentStep, steps: machine.steps };
    const { record: live, created } = await this.#store.createOrGetLive(record, {
      events: [sessionEvent(record, 'onboarding.session.started', caller.principal, { status: 'active', currentStep: machine.currentStep })],
      audits: [
        { actorId: userId, actorRole: role, action: 'session.start', target: id, after: { status: 'active' }, requestId: caller.requestId, ip: caller.ip },
      ],
    });
    return { view: await this.get(tenantId, live.id), created };
  }

  async current(tenantId: string): Promise<SessionView> {
    const live = await this.#store.findLive(tenantId);
    if (!live) throw NOT_FOUND();
    return this.get(tenantId, live.id);
  }

  get(tenantId: string, sessionId: string): Promise<SessionView> {
    return this.#router.route({ op: 'get', tenantId, sessionId }) as Promise<SessionView>;
  }

  /**
   * Applies a JSON merge patch to one step as a Yjs transaction (the actor validates the merged
   * result against the step's schema and refuses secrets) and returns once the edit is durable.
   */
  updateStep(caller: Caller, sessionId: string, stepId: StepId, patch: Record<string, unknown>): Promise<StepWriteResult> {
    return this.#router.route({ op: 'updateStep', caller, sessionId, stepId, patch }) as Promise<StepWriteResult>;
  }

  transition(caller: Caller, sessionId: string, message: TransitionMessage): Promise<SessionView> {
    return this.#router.route({ op: 'transition', caller, sessionId, message }) as Promise<SessionView>;
  }

  /** Abandons the session if it saw no activity since `inactiveBefore` (the abandonment sweeper). */
  async abandonIfInactive(session: { id: string; tenantId: string }, inactiveBefore: Date): Promise<void> {
    await this.#router.route({ op: 'abandonIfInactive', tenantId: session.tenantId, sessionId: session.id, inactiveBefore });
  }

  /** The committed Yjs document of a session, encoded as one update. */
  encodeState(tenantId: string, sessionId: string, stateVector?: Uint8Array): Promise<Uint8Array> {
    return this.#router.route({ op: 'encodeState', tenantId, sessionId, ...(stateVector ? { stateVector } : {}) }) as Promise<Uint8Array>;
  }

  /** Subscribes to committed changes of every session (the realtime gateways). */
  onBroadcast(listener: (broadcast: SessionBroadcast, source: BroadcastSource) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Applies a live editor's Yjs update; resolves with its log id once it is durable (a duplicate
   * resolves at once with the current position, without growing the log). The update is decoded in
   * a worker first, on the node the client is connected to, so nothing malformed reaches an actor.
   */
  async applyUpdate(caller: Caller, sessionId: string, update: Uint8Array, origin: string): Promise<number> {
    await this.#guard.check(update);
    return this.#router.route({ op: 'applyUpdate', caller, sessionId, update, origin }) as Promise<number>;
  }

  /** Answers a client's sync step 1: what its state vector lacks, and the session's state vector. */
  syncState(tenantId: string, sessionId: string, stateVector: Uint8Array): Promise<SyncState> {
    return this.#router.route({ op: 'syncState', tenantId, sessionId, stateVector }) as Promise<SyncState>;
  }

  /** A call another node forwarded here because this node owns the session (or should). */
  serveForwarded(call: SessionCall): Promise<unknown> {
    return this.#router.route(call, true);
  }

  /** Passivates one session's actor (flush, compact, unload). */
  passivate(sessionId: string): Promise<void> {
    return this.#host.passivate(sessionId);
  }

  isActive(sessionId: string): boolean {
    return this.#host.isActive(sessionId);
  }

  /** Flushes and unloads every session (graceful shutdown). */
  async stop(): Promise<void> {
    await this.#guard.close();
    await this.#host.stop();
  }

  /** Runs `call` on this node's actor. */
  async #execute(call: SessionCall): Promise<unknown> {
    switch (call.op) {
      case 'get':
        return this.#ask(call.tenantId, call.sessionId, { type: 'get' });
      case 'updateStep': {
        const { caller, sessionId, stepId, patch } = call;
        const write = (await this.#ask(caller.principal.tenantId, sessionId, { type: 'updateStep', stepId, patch, caller })) as StepWrite;
        return { stepId, data: write.data, updateId: await this.#committed(sessionId, write) } satisfies StepWriteResult;
      }
      case 'transition':
        return this.#ask(call.caller.principal.tenantId, call.sessionId, call.message);
      case 'abandonIfInactive':
        await this.#ask(call.tenantId, call.sessionId, { type: 'abandonIfInactive', inactiveBefore: call.inactiveBefore });
        return undefined;
      case 'encodeState':
        return this.#ask(call.tenantId, call.sessionId, { type: 'encodeState', ...(call.stateVector ? { stateVector: call.stateVector } : {}) });
      case 'applyUpdate': {
        const { caller, sessionId, update, origin } = call;
        const write = (await this.#ask(caller.principal.tenantId, sessionId, { type: 'applyUpdate', update, caller, origin })) as UpdateWrite;
        return this.#committed(sessionId, write);
      }
      case 'syncState':
        return this.#ask(call.tenantId, call.sessionId, { type: 'syncState', stateVector: call.stateVector });
    }
  }

  async #ask(tenantId: string, sessionId: string, message: SessionMessage): Promise<SessionReply> {
    // Do not activate what the caller may not see (or what does not exist).
    if (!this.#host.isActive(sessionId) && !(await this.#store.find(tenantId, sessionId))) throw NOT_FOUND();
    try {
      return await this.#host.ask(sessionId, { ...message, tenantId });
    } catch (error) {
      if (error instanceof RefusedAfterApply) throw error;
      throw this.#asNotOwner(sessionId, error) ?? error;
    }
  }

  /**
   * Errors that mean "this node cannot serve the session right now" become NotOwner, so the call is
   * routed again: the shard moved, the row carries a newer epoch, or the activation was dropped (a
   * fresh one reloads from the database).
   */
  #asNotOwner(sessionId: string, error: unknown): NotOwner | undefined {
    if (error instanceof NotOwner) return error;
    const stale = error instanceof StaleEpochError ? error : error instanceof ActorFailure && error.cause instanceof StaleEpochError ? error.cause : undefined;
    if (stale) {
      this.#placement.superseded(sessionId, stale.currentEpoch);
      return new NotOwner(stale.message);
    }
    if (error instanceof ActorFailure) return new NotOwner(error.message);
    return undefined;
  }

  async #committed(sessionId: string, write: StepWrite | UpdateWrite): Promise<number> {
    try {
      return await write.committed;
    } catch (error) {
      // Not durable, not acked. A newer owner: route the edit again (applying it twice is harmless).
      // Anything else (the database is down): the client retries.
      throw this.#asNotOwner(sessionId, error) ?? new AppError('SERVICE_UNAVAILABLE', 'the edit could not be saved; retry', { retryable: true });
    }
  }

  #measuredStepMinutes(): Promise<Partial<Record<StepId, number>>> {
    if (!this.#durations || Date.now() - this.#durations.at > DURATIONS_TTL_MS) {
      const value = this.#store.measuredStepMinutes(this.#minDurationSamples);
      value.catch(() => (this.#durations = undefined));
      this.#durations = { at: Date.now(), value };
    }
    return this.#durations.value;
  }
}
