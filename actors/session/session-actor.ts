// The session actor: owns one onboarding session's Yjs document and step-machine state while it is
// active. Writes follow the output gate (DESIGN.md invariant 1): an edit is applied in memory,
// appended to the update log through the group committer, and its author (or any reader) hears of
// it only after the commit. Transitions validate against the committed document and are written
// with their outbox events and audit entries in one fenced transaction.
import * as Y from 'yjs';
import type { Principal } from '../../shared/auth.ts';
import { AppError } from '../../shared/errors.ts';
import { mergePatch } from '../../shared/merge-patch.ts';
import { redactSecrets } from '../../shared/secrets.ts';
import {
  abandon,
  completeOnboarding,
  completeStep,
  computeProgress,
  durationMinutes,
  pause,
  resume,
  skipStep,
  type MachineState,
  type Progress,
  type TransitionResult,
  validateStepPatch,
} from '../../shared/step-machine.ts';
import { STEP_IDS, type StepId } from '../../shared/steps.ts';
import type { Logger } from '../../server/logger.ts';
import { ActorFailure, type Actor, type ActorContext } from '../runtime.ts';
import type { Placement } from '../placement.ts';
import { applyStepPatch, documentData, stepData } from './document.ts';
import { sessionEvent, type OnboardingEventType } from './events.ts';
import { StaleEpochError, type AuditDraft, type Effects } from '../../server/db/fenced-writes.ts';
import type { SessionRecord, SessionStore } from './session-store.ts';
import { GroupCommitter } from './group-commit.ts';

/** Who asked, for the audit log. */
export type Caller = { principal: Principal; requestId?: string | undefined; ip?: string | undefined };

/** `tenantId`, when given, must be the session's tenant (the caller's verified tenant). */
export type SessionMessage = { tenantId?: string } & (
  | { type: 'get' }
  | { type: 'updateStep'; stepId: StepId; patch: Record<string, unknown>; caller: Caller }
  /** A Yjs update from a live editor; `origin` names its connection (not echoed back to it). */
  | { type: 'applyUpdate'; update: Uint8Array; caller: Caller; origin: string }
  | { type: 'completeStep'; stepId: StepId; caller: Caller }
  | { type: 'skipStep'; stepId: StepId; caller: Caller }
  | { type: 'pause' | 'resume' | 'completeOnboarding'; caller: Caller }
  | { type: 'abandonIfInactive'; inactiveBefore: Date }
  | { type: 'compact' }
  /** The committed document as one Yjs update (optionally only what `stateVector` lacks). */
  | { type: 'encodeState'; stateVector?: Uint8Array }
  /** Sync step 1 answered: what the client lacks, and the document's state vector, at one instant. */
  | { type: 'syncState'; stateVector: Uint8Array }
);

export type SessionView = {
  session: SessionRecord;
  data: Record<StepId, Record<string, unknown>>;
  progress: Progress;
};

export type StepWrite = { stepId: StepId; data: Record<string, unknown>; committed: Promise<number> };

/** A live update's fate: `committed` resolves with the log id once durable (at once for a duplicate). */
export type UpdateWrite = { committed: Promise<number> };

export type SyncState = { missing: Uint8Array; stateVector: Uint8Array };

export type SessionReply = SessionView | StepWrite | UpdateWrite | SyncState | Uint8Array | undefined;

/** What the actor tells the realtime layer, only ever after the commit that makes it true. */
export type SessionBroadcast =
  | { kind: 'updates'; sessionId: string; tenantId: string; updates: { id: number; update: Uint8Array; origin: string | undefined }[] }
  | { kind: 'session'; sessionId: string; tenantId: string; view: SessionView }
  /**
   * A new activation (after a failover or handoff) loaded the session: live clients should sync
   * again, in case a previous owner committed an update and died before broadcasting it.
   */
  | { kind: 'resync'; sessionId: string; tenantId: string };

export type SessionActorDeps = {
  store: SessionStore;
  placement: Placement;
  log: Logger;
  maxDocumentBytes: number;
  snapshotEveryUpdates: number;
  snapshotEveryBytes: number;
  /** Median measured minutes per step (cached by the caller). */
  measuredStepMinutes: () => Promise<Partial<Record<StepId, number>>>;
  /** Called after a step's duration was recorded, so the caller can refresh that cache. */
  onDurationRecorded: () => void;
  /** Committed changes, for live clients (the output gate: never called before the commit). */
  publish: (broadcast: SessionBroadcast) => void;
};

/** A write refused in a way that leaves the in-memory document ahead of the log: reload it. */
export class RefusedAfterApply extends ActorFailure {
  readonly appError: AppError;
  /**
   * The update needs updates this activation lacks. In a cluster the activation itself may be the
   * stale one (a newer owner took the session after Redis lost its leases): worth one retry on a
   * fresh activation before the client is told.
   */
  readonly missingDependencies: boolean;

  constructor(appError: AppError, options: { missingDependencies?: boolean } = {}) {
    super(appError.message);
    this.appError = appError;
    this.missingDependencies = options.missingDependencies === true;
  }
}

const MISSING_DEPENDENCIES = 'the update depends on updates the server does not have: sync (step 1) first';

/**
 * One edit waiting for the group commit. REST edits carry their own audit entry (with before and
 * after); live edits, a keystroke each, are audited once per editor and step per commit.
 */
type PendingEdit = {
  update: Uint8Array;
  /** Top-level fields touched, per step. */
  steps: Map<StepId, Set<string>>;
  audit?: AuditDraft;
  caller: Caller;
  origin?: string;
};

export class SessionActor implements Actor<SessionMessage, SessionReply> {
  readonly #deps: SessionActorDeps;
  readonly #context: ActorContext<SessionMessage>;
  readonly #epoch: number;
  readonly #doc: Y.Doc;
  readonly #log: GroupCommitter<PendingEdit, number>;
  #record: SessionRecord;
  /** Updates produced by the current transaction (captured from the doc's update event). */
  #captured: Uint8Array[] = [];
  #documentBytes: number;
  #lastUpdateId: number;
  #snapshotUptoId: number;
  #updatesSinceSnapshot: number;
  #bytesSinceSnapshot: number;

  static async activate(id: string, context: ActorContext<SessionMessage>, deps: SessionActorDeps): Promise<SessionActor> {
    const epoch = await deps.placement.epochFor(id);
    const loaded = await deps.store.claim(id, epoch);
    const actor = new SessionActor(context, deps, epoch, loaded);
    deps.publish({ kind: 'resync', sessionId: id, tenantId: loaded.record.tenantId });
    return actor;
  }

  private constructor(
    context: ActorContext<SessionMessage>,
    deps: SessionActorDeps,
    epoch: number,
    loaded: Awaited<ReturnType<SessionStore['claim']>>,
  ) {
    this.#context = context;
    this.#deps = deps;
    this.#epoch = epoch;
    this.#record = loaded.record;
    this.#doc = new Y.Doc();
    if (loaded.snapshot) Y.applyUpdate(this.#doc, loaded.snapshot.state);
    for (const { update } of loaded.updates) Y.applyUpdate(this.#doc, update);
    const loggedBytes = loaded.updates.reduce((sum, u) => sum + u.update.length, 0);
    this.#documentBytes = (loaded.snapshot?.state.length ?? 0) + loggedBytes;
    this.#snapshotUptoId = loaded.snapshot?.uptoUpdateId ?? 0;
    this.#lastUpdateId = loaded.updates.at(-1)?.id ?? this.#snapshotUptoId;
    this.#updatesSinceSnapshot = loaded.updates.length;
    this.#bytesSinceSnapshot = loggedBytes;
    this.#doc.on('update', (update: Uint8Array) => this.#captured.push(update));
    this.#log = new GroupCommitter((edits) => this.#commitEdits(edits));
  }

  async receive(message: SessionMessage): Promise<SessionReply> {
    if (this.#log.failure !== undefined) throw new ActorFailure('the update log refused a commit', { cause: this.#log.failure });
    // Callers name the tenant of the verified token; another tenant's session does not exist for them.
    if (message.tenantId !== undefined && message.tenantId !== this.#record.tenantId) {
      throw new AppError('ONBOARDING_SESSION_NOT_FOUND', 'no such onboarding session');
    }
    switch (message.type) {
      case 'get':
        await this.#log.sync();
        return this.#view();
      case 'updateStep':
        return this.#updateStep(message.stepId, message.patch, message.caller);
      case 'applyUpdate':
        return this.#applyUpdate(message.update, message.caller, message.origin);
      case 'completeStep':
        return this.#transition(message.caller, 'step.complete', message.stepId, (state, now) =>
          completeStep(state, message.stepId, stepData(this.#doc, message.stepId), now),
        );
      case 'skipStep':
        return this.#transition(message.caller, 'step.skip', message.stepId, (state, now) => skipStep(state, message.stepId, now));
      case 'pause':
        return this.#transition(message.caller, 'session.pause', undefined, pause);
      case 'resume':
        return this.#transition(message.caller, 'session.resume', undefined, resume);
      case 'completeOnboarding':
        return this.#transition(message.caller, 'session.complete', undefined, completeOnboarding);
      case 'abandonIfInactive':
        await this.#log.sync();
        if (this.#record.lastActivityAt >= message.inactiveBefore) return this.#view();
        return this.#transition(undefined, 'session.abandon', undefined, abandon);
      case 'compact':
        await this.#compact();
        return undefined;
      case 'encodeState':
        await this.#log.sync();
        return Y.encodeStateAsUpdate(this.#doc, message.stateVector);
      case 'syncState':
        await this.#log.sync();
        try {
          return { missing: Y.encodeStateAsUpdate(this.#doc, message.stateVector), stateVector: Y.encodeStateVector(this.#doc) };
        } catch {
          throw new AppError('VALIDATION_FAILED', 'malformed state vector');
        }
    }
  }

  async passivate(): Promise<void> {
    await this.#log.sync();
    if (this.#updatesSinceSnapshot > 0) await this.#compact();
    this.#doc.destroy();
  }

  destroy(): void {
    this.#doc.destroy();
  }

  async #view(): Promise<SessionView> {
    return {
      session: { ...this.#record },
      data: documentData(this.#doc),
      progress: computeProgress(this.#machineState(), await this.#deps.measuredStepMinutes()),
    };
  }

  #machineState(): MachineState {
    return { status: this.#record.status, currentStep: this.#record.currentStep, steps: this.#record.steps };
  }

  async #updateStep(stepId: StepId, patch: Record<string, unknown>, caller: Caller): Promise<StepWrite> {
    if (this.#record.status !== 'active') {
      throw new AppError('ONBOARDING_SESSION_NOT_ACTIVE', `the session is ${this.#record.status}; resume it to edit`);
    }
    const before = stepData(this.#doc, stepId);
    // Validate what the step will hold after the merge, field by field touched.
    const merged = mergePatch(before, patch) as Record<string, unknown>;
    const touched = Object.fromEntries(Object.keys(patch).filter((key) => key in merged).map((key) => [key, merged[key]]));
    const validation = validateStepPatch(stepId, touched);
    if (!validation.ok) {
      throw new AppError('CONFIGURATION_VALIDATION_FAILED', `invalid data for step ${stepId}`, { issues: validation.issues });
    }
    this.#captured = [];
    applyStepPatch(this.#doc, stepId, patch, caller);
    const [update] = this.#captured;
    this.#captured = [];
    const data = stepData(this.#doc, stepId);
    if (update === undefined) {
      // Nothing changed (same values): nothing to log, acknowledge at once once earlier edits are in.
      return { stepId, data, committed: this.#log.sync().then(() => this.#lastUpdateId) };
    }
    if (this.#documentBytes + update.length > this.#deps.maxDocumentBytes) {
      await this.#log.sync(); // earlier edits are durable; only this one is dropped with the reload
      throw new RefusedAfterApply(
        new AppError('DOCUMENT_TOO_LARGE', `the session document would exceed ${this.#deps.maxDocumentBytes} bytes`, {
          limitBytes: this.#deps.maxDocumentBytes,
        }),
      );
    }
    this.#documentBytes += update.length;
    const fields = Object.keys(patch);
    const pick = (source: Record<string, unknown>) => redactSecrets(Object.fromEntries(fields.map((f) => [f, source[f] ?? null])));
    const audit: AuditDraft = {
      actorId: caller.principal.userId,
      actorRole: caller.principal.role,
      action: 'step.update',
      target: `${this.#record.id}/${stepId}`,
      before: pick(before),
      after: pick(data),
      requestId: caller.requestId,
      ip: caller.ip,
    };
    const committed = this.#log.append({ update, steps: new Map([[stepId, new Set(fields)]]), audit, caller });
    return { stepId, data, committed };
  }

  /**
   * A live editor's Yjs update: applied, then checked (only step maps, valid step data, size);
   * anything refused after applying reloads the activation, so the refused update leaves no trace.
   * A duplicate (already known) changes nothing and is acknowledged without a log entry.
   */
  async #applyUpdate(update: Uint8Array, caller: Caller, origin: string): Promise<UpdateWrite> {
    if (this.#record.status !== 'active') {
      throw new AppError('ONBOARDING_SESSION_NOT_ACTIVE', `the session is ${this.#record.status}; resume it to edit`);
    }
    const touched = new Map<StepId, Set<string>>();
    const collect = (transaction: Y.Transaction) => collectTouched(this.#doc, transaction, touched as Map<string, Set<string>>);
    this.#captured = [];
    this.#doc.on('afterTransaction', collect);
    try {
      Y.applyUpdate(this.#doc, update, origin);
    } catch (error) {
      await this.#log.sync();
      throw new RefusedAfterApply(new AppError('VALIDATION_FAILED', `malformed Yjs update: ${(error as Error).message}`));
    } finally {
      this.#doc.off('afterTransaction', collect);
    }
    const captured = this.#captured;
    this.#captured = [];
    const refusal = this.#refusalOf(touched, captured);
    if (refusal === undefined && captured.length === 0) return { committed: this.#log.sync().then(() => this.#lastUpdateId) };
    if (refusal) {
      await this.#log.sync(); // earlier edits are durable; only this one goes with the reload
      throw new RefusedAfterApply(refusal, { missingDependencies: refusal.code === 'SYNC_REQUIRED' });
    }
    const merged = captured.length === 1 ? captured[0]! : Y.mergeUpdates(captured);
    this.#documentBytes += merged.length;
    return { committed: this.#log.append({ update: merged, steps: touched, caller, origin }) };
  }

  /** Why an applied live update must be refused, if it must. */
  #refusalOf(touched: Map<StepId | string, Set<string>>, captured: Uint8Array[]): AppError | undefined {
    // Structs that wait for updates the server never saw would be acknowledged without being
    // stored (and would hold memory): the client must sync first.
    if (this.#doc.store.pendingStructs !== null || this.#doc.store.pendingDs !== null) {
      return new AppError('SYNC_REQUIRED', MISSING_DEPENDENCIES);
    }
    const foreign = [...this.#doc.share.keys()].filter((name) => !(STEP_IDS as readonly string[]).includes(name));
    if (foreign.length > 0) {
      return new AppError('CONFIGURATION_VALIDATION_FAILED', 'the document holds only the step maps', {
        issues: foreign.map((name) => ({ path: name, message: 'not a step' })),
      });
    }
    for (const stepId of touched.keys() as Iterable<StepId>) {
      const validation = validateStepPatch(stepId, stepData(this.#doc, stepId));
      if (!validation.ok) {
        return new AppError('CONFIGURATION_VALIDATION_FAILED', `invalid data for step ${stepId}`, {
          issues: validation.issues.map((issue) => ({ ...issue, path: `${stepId}.${issue.path}` })),
        });
      }
    }
    const bytes = captured.reduce((sum, u) => sum + u.length, 0);
    if (this.#documentBytes + bytes > this.#deps.maxDocumentBytes) {
      return new AppError('DOCUMENT_TOO_LARGE', `the session document would exceed ${this.#deps.maxDocumentBytes} bytes`, {
        limitBytes: this.#deps.maxDocumentBytes,
      });
    }
    return undefined;
  }

  /** One group commit: the updates, one coalesced `step.updated` event per step, the audit entries. */
  async #commitEdits(edits: PendingEdit[]): Promise<number[]> {
    const byStep = new Map<StepId, { fields: Set<string>; editors: Set<string>; edits: number }>();
    const liveAudits = new Map<string, AuditDraft & { fields: Set<string> }>();
    for (const edit of edits) {
      for (const [stepId, fields] of edit.steps) {
        const entry = byStep.get(stepId) ?? { fields: new Set(), editors: new Set(), edits: 0 };
        fields.forEach((f) => entry.fields.add(f));
        entry.editors.add(edit.caller.principal.userId);
        entry.edits += 1;
        byStep.set(stepId, entry);
        if (edit.audit) continue;
        const key = `${edit.caller.principal.userId}\u0000${stepId}`;
        const audit = liveAudits.get(key) ?? {
          actorId: edit.caller.principal.userId,
          actorRole: edit.caller.principal.role,
          action: 'step.live_edit',
          target: `${this.#record.id}/${stepId}`,
          fields: new Set<string>(),
          requestId: edit.caller.requestId,
          ip: edit.caller.ip,
        };
        fields.forEach((f) => audit.fields.add(f));
        liveAudits.set(key, audit);
      }
    }
    const audits: AuditDraft[] = [
      ...edits.flatMap((e) => (e.audit ? [e.audit] : [])),
      ...[...liveAudits.values()].map(({ fields, ...audit }) => ({ ...audit, after: { fields: [...fields].sort() } })),
    ];
    const events = [...byStep].map(([stepId, entry]) =>
      sessionEvent(this.#record, 'onboarding.step.updated', undefined, {
        stepId,
        fields: [...entry.fields].sort(),
        editors: [...entry.editors].sort(),
        edits: entry.edits,
      }),
    );
    this.#assertOwner();
    const { ids, at } = await this.#deps.store.appendUpdates(
      this.#record,
      this.#epoch,
      edits.map((e) => e.update),
      { events, audits },
    );
    this.#record = { ...this.#record, lastActivityAt: at };
    this.#deps.publish({
      kind: 'updates',
      sessionId: this.#record.id,
      tenantId: this.#record.tenantId,
      updates: edits.map((edit, index) => ({ id: ids[index]!, update: edit.update, origin: edit.origin })),
    });
    this.#lastUpdateId = ids.at(-1) ?? this.#lastUpdateId;
    this.#updatesSinceSnapshot += edits.length;
    this.#bytesSinceSnapshot += edits.reduce((sum, e) => sum + e.update.length, 0);
    if (
      this.#updatesSinceSnapshot >= this.#deps.snapshotEveryUpdates ||
      this.#bytesSinceSnapshot >= this.#deps.snapshotEveryBytes
    ) {
      this.#context.setTimer('compact', 0, { type: 'compact' });
    }
    return ids;
  }

  async #transition(
    caller: Caller | undefined,
    action: TransitionAction,
    stepId: StepId | undefined,
    apply: (state: MachineState, now: string) => TransitionResult,
  ): Promise<SessionView> {
    await this.#log.sync(); // decide on committed data only
    const now = new Date();
    const result = apply(this.#machineState(), now.toISOString());
    if (!result.ok) throw new AppError(result.code, result.message, result.details);
    if (result.alreadyCompleted) return this.#view(); // a double submit has one effect
    const next = result.state;
    const change = {
      status: next.status,
      currentStep: next.currentStep,
      steps: next.steps,
      ...(next.status === 'completed' ? { completedAt: now } : {}),
    };
    const type = EVENT_TYPES[action];
    const stepDetails = stepId ? { stepId, ...(action === 'step.complete' ? { data: redactSecrets(stepData(this.#doc, stepId)) } : {}) } : {};
    const effects: Effects = {
      events: [sessionEvent(this.#record, type, caller?.principal, { ...stepDetails, status: next.status, currentStep: next.currentStep })],
      audits: [
        {
          actorId: caller?.principal.userId ?? 'system',
          actorRole: caller?.principal.role ?? 'system',
          action,
          target: stepId ? `${this.#record.id}/${stepId}` : this.#record.id,
          before: { status: this.#record.status, currentStep: this.#record.currentStep, ...(stepId ? { step: this.#record.steps[stepId] } : {}) },
          after: { status: next.status, currentStep: next.currentStep, ...(stepId ? { step: next.steps[stepId] } : {}) },
          requestId: caller?.requestId,
          ip: caller?.ip,
        },
      ],
      durations:
        action === 'step.complete' && stepId && this.#record.steps[stepId]?.status !== 'completed'
          ? [{ stepId, minutes: durationMinutes(next.steps[stepId]) ?? 0 }].filter((d) => d.minutes > 0)
          : [],
    };
    this.#assertOwner();
    const updatedAt = await fenced(this.#deps.store.saveTransition(this.#record, this.#epoch, change, effects));
    this.#record = { ...this.#record, ...change, updatedAt, lastActivityAt: updatedAt };
    if ((effects.durations ?? []).length > 0) this.#deps.onDurationRecorded();
    const view = await this.#view();
    this.#deps.publish({ kind: 'session', sessionId: this.#record.id, tenantId: this.#record.tenantId, view });
    return view;
  }

  /**
   * Self-fencing before every write: once this node's lease on the shard may have expired, it stops
   * writing on its own, without waiting for the database to refuse (the epoch check stays the last
   * word). The activation is dropped; a call routed again finds the new owner.
   */
  #assertOwner(): void {
    if (!this.#deps.placement.holds(this.#record.id, this.#epoch)) {
      throw new ActorFailure(`this node no longer holds session ${this.#record.id} under epoch ${this.#epoch}`);
    }
  }

  async #compact(): Promise<void> {
    await this.#log.sync();
    if (this.#lastUpdateId <= this.#snapshotUptoId) return;
    const state = Y.encodeStateAsUpdate(this.#doc);
    this.#assertOwner();
    await fenced(this.#deps.store.compact(this.#record, this.#epoch, state, this.#lastUpdateId));
    this.#snapshotUptoId = this.#lastUpdateId;
    this.#documentBytes = state.length;
    this.#updatesSinceSnapshot = 0;
    this.#bytesSinceSnapshot = 0;
    this.#deps.log.debug({ sessionId: this.#record.id, bytes: state.length, upto: this.#lastUpdateId }, 'session log compacted');
  }
}

/** Records which step (root map) and top-level fields each change of a transaction touched. */
function collectTouched(doc: Y.Doc, transaction: Y.Transaction, touched: Map<string, Set<string>>): void {
  const rootNames = new Map<unknown, string>([...doc.share].map(([name, type]) => [type, name]));
  for (const [type, keys] of transaction.changed) {
    const fields = new Set<string>();
    let current = type;
    if (current._item === null) {
      // A change of the step map itself: its keys are the top-level fields.
      keys.forEach((key) => key !== null && fields.add(key));
    }
    // Walk up to the root; the key of the last map level below it is the top-level field.
    let field: string | undefined;
    while (current._item !== null) {
      field = current._item.parentSub ?? field;
      current = current._item.parent as typeof type;
    }
    if (field !== undefined) fields.add(field);
    const root = rootNames.get(current);
    if (root === undefined) continue;
    touched.set(root, new Set([...(touched.get(root) ?? []), ...fields]));
  }
}

/** A newer epoch owns the session: this activation must go (the host drops it, the next reloads). */
async function fenced<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (error) {
    if (error instanceof StaleEpochError) throw new ActorFailure(error.message, { cause: error });
    throw error;
  }
}

type TransitionAction = keyof typeof EVENT_TYPES;

const EVENT_TYPES = {
  'step.complete': 'onboarding.step.completed',
  'step.skip': 'onboarding.step.skipped',
  'session.pause': 'onboarding.session.paused',
  'session.resume': 'onboarding.session.resumed',
  'session.complete': 'onboarding.session.completed',
  'session.abandon': 'onboarding.session.abandoned',
} as const satisfies Record<string, OnboardingEventType>;

