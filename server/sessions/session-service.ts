// The OnboardingService of the seed specification: what the REST routes (and, later, the realtime
// gateway) call. It scopes every call to the caller's tenant, validates input, and talks to the
// session actors through the actor host; it holds no session state of its own.
import crypto from 'node:crypto';
import { ActorFailure, ActorHost } from '../../actors/runtime.ts';
import type { Placement } from '../../actors/placement.ts';
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
};

export type StepWriteResult = { stepId: StepId; data: Record<string, unknown>; updateId: number };

const NOT_FOUND = () => new AppError('ONBOARDING_SESSION_NOT_FOUND', 'no such onboarding session');
const DURATIONS_TTL_MS = 60_000;

export class SessionService {
  readonly #store: SessionStore;
  readonly #host: ActorHost<SessionMessage, SessionReply, SessionActor>;
  #durations: { at: number; value: Promise<Partial<Record<StepId, number>>> } | undefined;
  readonly #minDurationSamples: number;
  readonly #listeners = new Set<(broadcast: SessionBroadcast) => void>();
  readonly #guard: UpdateGuard;

  constructor(options: SessionServiceOptions) {
    this.#store = options.store;
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
        for (const listener of this.#listeners) listener(broadcast);
      },
    };
    this.#host = new ActorHost({
      idleMs: options.idleMs,
      activate: (id, context) => SessionActor.activate(id, context, deps),
      onEvent: (event, id, error) => {
        options.metrics.sessionActorEvents.inc({ event });
        options.metrics.sessionActorsActive.set(this.#host.size);
        if (event === 'failed') options.log.warn({ sessionId: id, err: error }, 'session actor dropped');
      },
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
    return { view: (await this.#ask(tenantId, live.id, { type: 'get' })) as SessionView, created };
  }

  async current(tenantId: string): Promise<SessionView> {
    const live = await this.#store.findLive(tenantId);
    if (!live) throw NOT_FOUND();
    return (await this.#ask(tenantId, live.id, { type: 'get' })) as SessionView;
  }

  async get(tenantId: string, sessionId: string): Promise<SessionView> {
    return (await this.#ask(tenantId, sessionId, { type: 'get' })) as SessionView;
  }

  /**
   * Applies a JSON merge patch to one step as a Yjs transaction (the actor validates the merged
   * result against the step's schema and refuses secrets) and returns once the edit is durable.
   */
  async updateStep(caller: Caller, sessionId: string, stepId: StepId, patch: Record<string, unknown>): Promise<StepWriteResult> {
    const write = (await this.#ask(caller.principal.tenantId, sessionId, { type: 'updateStep', stepId, patch, caller })) as StepWrite;
    return { stepId, data: write.data, updateId: await this.#committed(write) };
  }

  transition(caller: Caller, sessionId: string, message: Extract<SessionMessage, { caller: Caller; type: 'completeStep' | 'skipStep' | 'pause' | 'resume' | 'completeOnboarding' }>): Promise<SessionView> {
    return this.#ask(caller.principal.tenantId, sessionId, message) as Promise<SessionView>;
  }

  /** Abandons the session if it saw no activity since `inactiveBefore` (the abandonment sweeper). */
  async abandonIfInactive(session: { id: string; tenantId: string }, inactiveBefore: Date): Promise<void> {
    await this.#ask(session.tenantId, session.id, { type: 'abandonIfInactive', inactiveBefore });
  }

  /** The committed Yjs document of a session, encoded as one update. */
  async encodeState(tenantId: string, sessionId: string, stateVector?: Uint8Array): Promise<Uint8Array> {
    return (await this.#ask(tenantId, sessionId, { type: 'encodeState', ...(stateVector ? { stateVector } : {}) })) as Uint8Array;
  }

  /** Subscribes to committed changes of every session on this node (the realtime gateway). */
  onBroadcast(listener: (broadcast: SessionBroadcast) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Applies a live editor's Yjs update; resolves with its log id once it is durable (a duplicate
   * resolves at once with the current position, without growing the log).
   */
  async applyUpdate(caller: Caller, sessionId: string, update: Uint8Array, origin: string): Promise<number> {
    await this.#guard.check(update);
    const write = (await this.#ask(caller.principal.tenantId, sessionId, { type: 'applyUpdate', update, caller, origin })) as UpdateWrite;
    return this.#committed(write);
  }

  /** Answers a client's sync step 1: what its state vector lacks, and the session's state vector. */
  async syncState(tenantId: string, sessionId: string, stateVector: Uint8Array): Promise<SyncState> {
    return (await this.#ask(tenantId, sessionId, { type: 'syncState', stateVector })) as SyncState;
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

  async #ask(tenantId: string, sessionId: string, message: SessionMessage): Promise<SessionReply> {
    // Do not activate what the caller may not see (or what does not exist).
    if (!this.#host.isActive(sessionId) && !(await this.#store.find(tenantId, sessionId))) throw NOT_FOUND();
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.#host.ask(sessionId, { ...message, tenantId });
      } catch (error) {
        if (error instanceof RefusedAfterApply) throw error.appError;
        // The activation was dropped (its state could not be trusted): a fresh one reloads it.
        if (error instanceof ActorFailure && attempt === 1) continue;
        if (error instanceof ActorFailure) throw new AppError('SERVICE_UNAVAILABLE', 'the session is moving; retry', { retryable: true });
        throw error;
      }
    }
  }

  async #committed(write: StepWrite | UpdateWrite): Promise<number> {
    try {
      return await write.committed;
    } catch {
      // The commit failed (database down, or a newer owner): the edit is not durable and not acked.
      throw new AppError('SERVICE_UNAVAILABLE', 'the edit could not be saved; retry', { retryable: true });
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
