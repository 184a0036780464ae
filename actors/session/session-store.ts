// Persistence of onboarding sessions. Every write that belongs to a session runs in one transaction
// that first checks the session's fencing epoch (DESIGN.md invariant 2) and carries the outbox
// events and audit entries of the change (invariant 7). Every read is scoped by tenant.
import type { EntityManager } from '@mikro-orm/sql';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { OnboardingSession, SessionSnapshot, SessionUpdate, StepDuration } from '../../server/db/entities.ts';
import { insertRows, StaleEpochError, writeEffects, type Effects } from '../../server/db/fenced-writes.ts';
import { GroupCommitter } from './group-commit.ts';
import type { Database } from '../../server/db/orm.ts';
import type { SessionStatus, StepState } from '../../shared/step-machine.ts';
import type { StepId } from '../../shared/steps.ts';
import { AppError } from '../../shared/errors.ts';

export type SessionRecord = {
  id: string;
  tenantId: string;
  status: SessionStatus;
  currentStep: StepId | 'complete';
  steps: Record<StepId, StepState>;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
  lastActivityAt: Date;
  completedAt: Date | null;
};

export type LoadedSession = {
  record: SessionRecord;
  snapshot?: { state: Uint8Array; uptoUpdateId: number };
  updates: { id: number; update: Uint8Array }[];
};

function toRecord(row: OnboardingSession): SessionRecord {
  return {
    id: row.id,
    tenantId: row.tenantId,
    status: row.status,
    currentStep: row.currentStep as SessionRecord['currentStep'],
    steps: row.steps as SessionRecord['steps'],
    createdBy: row.createdBy,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    lastActivityAt: row.lastActivityAt,
    completedAt: row.completedAt ?? null,
  };
}

/** One session's append: its updates (in order) and effects, fenced on its epoch. */
type Append = { session: { id: string; tenantId: string }; epoch: number; updates: Uint8Array[]; effects: Effects };
type AppendOutcome = { ids: number[]; at: Date } | StaleEpochError;

/**
 * Sessions in one fencing statement: the OR of their (id, tenant, epoch) conditions stays a short
 * statement; the node's batches are split into transactions of this many.
 */
const SESSIONS_PER_BATCH = 256;

/** What one batch transaction of live edits took; for metrics. */
export type AppendBatchObserver = (batch: { updates: number; seconds: number; ok: boolean }) => void;

export class SessionStore {
  readonly #db: Database;
  readonly #observe: AppendBatchObserver;
  // The node's live edits, batched across sessions: one transaction (a handful of statements and one
  // fsync) for every session that committed in the same turn, rather than one each. A failed batch
  // fails only its sessions (they reload), never the batches after it.
  readonly #appends = new GroupCommitter<Append, AppendOutcome>((batch) => this.#appendBatch(batch), {
    stopAfterFailure: false,
    maxBatch: SESSIONS_PER_BATCH,
  });

  constructor(db: Database, observe: AppendBatchObserver = () => {}) {
    this.#db = db;
    this.#observe = observe;
  }

  /** Highest epoch ever written: the embedded placement starts one above it. */
  async maxEpoch(): Promise<number> {
    const [row] = await this.#db.em().getConnection().execute<{ epoch: number | string | null }[]>(
      'select max(owner_epoch) as epoch from onboarding_session',
    );
    return Number(row?.epoch ?? 0);
  }

  /**
   * Creates the tenant's live session, or returns the one that exists: the partial unique index
   * makes concurrent starts (on any node) converge on one row.
   */
  async createOrGetLive(
    record: Omit<SessionRecord, 'createdAt' | 'updatedAt' | 'lastActivityAt' | 'completedAt'>,
    effects: Effects,
  ): Promise<{ record: SessionRecord; created: boolean }> {
    const now = new Date();
    try {
      await this.#db.em().transactional(async (em) => {
        await em.insert(OnboardingSession, { ...record, ownerEpoch: 0, createdAt: now, updatedAt: now, lastActivityAt: now });
        await writeEffects(em, this.#db.dialect, [{ tenantId: record.tenantId, effects }]);
      });
      return { record: { ...record, createdAt: now, updatedAt: now, lastActivityAt: now, completedAt: null }, created: true };
    } catch (error) {
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
      const live = await this.findLive(record.tenantId);
      if (!live) throw error;
      return { record: live, created: false };
    }
  }

  async findLive(tenantId: string): Promise<SessionRecord | null> {
    const row = await this.#db.em().findOne(OnboardingSession, { tenantId, status: { $in: ['active', 'paused'] } });
    return row ? toRecord(row) : null;
  }

  async find(tenantId: string, id: string): Promise<SessionRecord | null> {
    const row = await this.#db.em().findOne(OnboardingSession, { id, tenantId });
    return row ? toRecord(row) : null;
  }

  /**
   * Activation: raises the row's epoch to `epoch` (refused if a newer owner already claimed it) and
   * loads the snapshot and the updates after it.
   */
  async claim(id: string, epoch: number): Promise<LoadedSession> {
    return this.#db.em().transactional(async (em) => {
      const claimed = await em.nativeUpdate(OnboardingSession, { id, ownerEpoch: { $lte: epoch } }, { ownerEpoch: epoch });
      if (claimed !== 1) {
        const current = await em.findOne(OnboardingSession, { id }, { fields: ['ownerEpoch'] });
        if (!current) throw new Error(`session ${id} does not exist`);
        throw new StaleEpochError(`session ${id}`, epoch, current.ownerEpoch);
      }
      const row = await em.findOneOrFail(OnboardingSession, { id });
      const snapshot = await em.findOne(SessionSnapshot, { sessionId: id });
      const updates = await em.find(
        SessionUpdate,
        { sessionId: id, ...(snapshot ? { id: { $gt: snapshot.uptoUpdateId } } : {}) },
        { orderBy: { id: 'asc' } },
      );
      return {
        record: toRecord(row),
        ...(snapshot ? { snapshot: { state: new Uint8Array(snapshot.state), uptoUpdateId: snapshot.uptoUpdateId } } : {}),
        updates: updates.map((u) => ({ id: u.id, update: new Uint8Array(u.update) })),
      };
    });
  }

  /**
   * Appends Yjs updates to the session's log, fenced on `epoch`; returns their ids in order and the
   * commit time. Appends of all sessions that arrive together share one transaction (`#appendBatch`).
   */
  async appendUpdates(
    session: { id: string; tenantId: string },
    epoch: number,
    updates: Uint8Array[],
    effects: Effects,
  ): Promise<{ ids: number[]; at: Date }> {
    const outcome = await this.#appends.append({ session, epoch, updates, effects });
    if (outcome instanceof StaleEpochError) throw outcome;
    return outcome;
  }

  /** Writes the session's new status/progress with its effects (one transaction, fenced). */
  async saveTransition(
    session: { id: string; tenantId: string },
    epoch: number,
    change: Partial<Pick<SessionRecord, 'status' | 'currentStep' | 'steps' | 'completedAt'>>,
    effects: Effects,
  ): Promise<Date> {
    const now = new Date();
    try {
      await this.#fenced(session, epoch, { ...change, updatedAt: now, lastActivityAt: now }, effects, async () => undefined);
    } catch (error) {
      // Only reviving an ended session can collide with the one-live-session-per-tenant index.
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
      const live = await this.findLive(session.tenantId);
      throw new AppError('INVALID_STEP_TRANSITION', 'the tenant already has a live onboarding session; continue that one', {
        liveSessionId: live?.id,
      });
    }
    return now;
  }

  /** Replaces the log up to `uptoUpdateId` by a snapshot of the state at that point (fenced). */
  async compact(session: { id: string; tenantId: string }, epoch: number, state: Uint8Array, uptoUpdateId: number): Promise<void> {
    await this.#fenced(session, epoch, {}, {}, async (em) => {
      await em.upsert(SessionSnapshot, { sessionId: session.id, uptoUpdateId, state: Buffer.from(state), createdAt: new Date() });
      await em.nativeDelete(SessionUpdate, { sessionId: session.id, id: { $lte: uptoUpdateId } });
    });
  }

  /** Median minutes per step over the latest `window` completions, for steps with `minSamples`. */
  async measuredStepMinutes(minSamples: number, window = 100): Promise<Partial<Record<StepId, number>>> {
    const rows = await this.#db.em().find(StepDuration, {}, { orderBy: { id: 'desc' }, limit: window * 11, fields: ['stepId', 'minutes'] });
    const byStep = new Map<string, number[]>();
    for (const row of rows) {
      const list = byStep.get(row.stepId) ?? [];
      if (list.length < window) list.push(Number(row.minutes));
      byStep.set(row.stepId, list);
    }
    const result: Partial<Record<StepId, number>> = {};
    for (const [stepId, minutes] of byStep) {
      if (minutes.length < minSamples) continue;
      const sorted = [...minutes].sort((a, b) => a - b);
      const mid = Math.floor(sorted.length / 2);
      result[stepId as StepId] = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    }
    return result;
  }

  /** Sessions whose last activity is older than `cutoff` and that can still be abandoned. */
  async inactiveSince(cutoff: Date, limit = 100): Promise<{ id: string; tenantId: string }[]> {
    const rows = await this.#db.em().find(
      OnboardingSession,
      { status: { $in: ['active', 'paused'] }, lastActivityAt: { $lt: cutoff } },
      { fields: ['id', 'tenantId'], limit },
    );
    return rows.map((row) => ({ id: row.id, tenantId: row.tenantId }));
  }

  /**
   * One transaction for many sessions' appends: one conditional update fences (and locks) every
   * session still owned under its epoch; the appends of the others fail as stale, alone. Then the
   * updates, events and audit entries of the rest, each in multi-row INSERTs.
   */
  async #appendBatch(batch: Append[]): Promise<AppendOutcome[]> {
    const started = performance.now();
    const updates = batch.reduce((sum, append) => sum + append.updates.length, 0);
    try {
      const outcomes = await this.#appendTransaction(batch);
      this.#observe({ updates, seconds: (performance.now() - started) / 1000, ok: true });
      return outcomes;
    } catch (error) {
      this.#observe({ updates, seconds: (performance.now() - started) / 1000, ok: false });
      throw error;
    }
  }

  async #appendTransaction(batch: Append[]): Promise<AppendOutcome[]> {
    const at = new Date();
    return this.#db.em().transactional(async (em) => {
      const fenced = await em
        .createQueryBuilder(OnboardingSession)
        .update({ lastActivityAt: at })
        .where({ $or: batch.map(({ session, epoch }) => ({ id: session.id, tenantId: session.tenantId, ownerEpoch: epoch })) })
        .returning(['id'])
        .execute<{ id: string }[]>('all', true);
      const owned = new Set(fenced.map((row) => row.id));
      const live = batch.filter((append) => owned.has(append.session.id));
      const ids = await insertRows(
        em,
        SessionUpdate,
        live.flatMap(({ session, epoch, updates }) => updates.map((update) => ({ sessionId: session.id, epoch, update: Buffer.from(update), createdAt: at }))),
      );
      await writeEffects(em, this.#db.dialect, live.map(({ session, effects }) => ({ tenantId: session.tenantId, effects })));
      let next = 0;
      return batch.map((append): AppendOutcome => {
        if (!owned.has(append.session.id)) return new StaleEpochError(`session ${append.session.id}`, append.epoch);
        const mine = ids.slice(next, next + append.updates.length);
        next += append.updates.length;
        return { ids: mine, at };
      });
    });
  }

  async #fenced<T>(
    session: { id: string; tenantId: string },
    epoch: number,
    change: Record<string, unknown>,
    effects: Effects,
    write: (em: EntityManager) => Promise<T>,
  ): Promise<T> {
    return this.#db.em().transactional(async (em) => {
      // The conditional update both checks the epoch and locks the row until commit, so a newer
      // owner's claim waits for us, and our commit fails if it came first.
      // `change` is empty for a compaction: rewriting a snapshot is not activity.
      const touched = await em.nativeUpdate(
        OnboardingSession,
        { id: session.id, tenantId: session.tenantId, ownerEpoch: epoch },
        Object.keys(change).length > 0 ? change : { ownerEpoch: epoch },
      );
      if (touched !== 1) throw new StaleEpochError(`session ${session.id}`, epoch);
      const result = await write(em);
      await writeEffects(em, this.#db.dialect, [{ tenantId: session.tenantId, effects }]);
      return result;
    });
  }
}
