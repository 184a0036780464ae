// The integration actor: one per tenant and integration kind (key `integration:<tenant>:<kind>`),
// the single owner of that connection in the whole cluster. It validates credentials against the
// provider before storing them (encrypted), checks health on a schedule, runs the provider's
// operations, and publishes every change. All provider calls go through ProviderCalls (timeout,
// retry with backoff and jitter, a breaker per provider) after taking a point of the tenant's
// outbound rate limit. Every write is fenced on the actor's epoch (IntegrationStore) and checked
// against the placement first, so a node that lost the key neither writes nor keeps checking.
import crypto from 'node:crypto';
import { ActorFailure, type Actor, type ActorContext } from '../runtime.ts';
import { NotOwner, type Placement } from '../placement.ts';
import type { Caller } from '../session/session-actor.ts';
import type { AuditDraft, Effects, EventDraft } from '../../server/db/fenced-writes.ts';
import { StaleEpochError } from '../../server/db/fenced-writes.ts';
import { integrationEvent } from '../../server/events/integration-events.ts';
import type { CredentialCipher } from '../../server/integrations/credentials.ts';
import type { InboundStore } from '../../server/integrations/inbound-store.ts';
import { findOperation, type OperationOutcome, type OperationSpec } from '../../server/integrations/operations.ts';
import type { CallContext, IntegrationKind } from '../../server/integrations/provider.ts';
import { providerOf, type Providers } from '../../server/integrations/providers/index.ts';
import type { OutboundLimits } from '../../server/integrations/rate-limits.ts';
import type { ProviderCalls } from '../../server/integrations/resilience.ts';
import type { Logger } from '../../server/logger.ts';
import type { Metrics } from '../../server/metrics.ts';
import { AppError, fieldIssues } from '../../shared/errors.ts';
import type { BackgroundRun, IntegrationView } from '../../shared/integrations.ts';
import type { z } from 'zod';
import { afterCheck, CHECKED_STATUSES, firstCheckDelay, nextCheckDelay, type CheckOutcome } from './health.ts';
import { type IntegrationRecord, type IntegrationStatus, type IntegrationStore } from './integration-store.ts';

export type IntegrationBroadcast =
  /** A health check ran (every check: the live health stream); `changed` when its outcome differs. */
  | { type: 'integration.health'; tenantId: string; kind: IntegrationKind; changed: boolean; integration: IntegrationView }
  /** Connected, enabled, disabled, removed (integration null) or updated by an operation. */
  | { type: 'integration.changed'; tenantId: string; kind: IntegrationKind; reason: string; integration: IntegrationView | null }
  | { type: 'integration.progress'; tenantId: string; kind: IntegrationKind; run: BackgroundRun };

export type IntegrationMessage =
  | { type: 'get' }
  /** Activation only (the health scheduler wakes the integrations this node owns). */
  | { type: 'wake' }
  | { type: 'connect'; caller: Caller; credentials: unknown; config: unknown }
  /** Without a caller: the scheduled check. */
  | { type: 'check'; caller?: Caller }
  | { type: 'setEnabled'; caller: Caller; enabled: boolean }
  | { type: 'remove'; caller: Caller }
  | { type: 'operate'; caller: Caller; operation: string; input: unknown }
  | { type: 'finishBackground'; runId: string; outcome: OperationOutcome | { error: AppError } }
  /** Email: where the inbox watcher got to (persisted so a new owner resumes there). */
  | { type: 'saveMailCursor'; cursor: MailCursor };

type MailCursor = { uidValidity: string; uid: number };

export type IntegrationDeps = {
  store: IntegrationStore;
  placement: Placement;
  providers: Providers;
  calls: ProviderCalls;
  limits: OutboundLimits;
  cipher: CredentialCipher;
  inbound: InboundStore;
  checkIntervalMs: number;
  /** Background work (training) gives up after this long. */
  backgroundTimeoutMs: number;
  webhookUrl(kind: IntegrationKind, integrationId: string): string | null;
  publish(broadcast: IntegrationBroadcast): void;
  log: Logger;
  metrics: Metrics;
};

const WEBHOOK_KINDS: readonly IntegrationKind[] = ['whatsapp', 'instagram', 'stripe'];

export function parseIntegrationKey(key: string): { tenantId: string; kind: IntegrationKind } {
  const match = /^integration:(.+):([a-z0-9]+)$/.exec(key);
  if (!match) throw new Error(`not an integration key: ${key}`);
  return { tenantId: match[1]!, kind: match[2] as IntegrationKind };
}

function parseInput<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new AppError('VALIDATION_FAILED', `invalid ${where}`, { issues: fieldIssues(result.error.issues.map((i) => ({ ...i, path: [where, ...i.path] }))) });
  }
  return result.data;
}

const notConnected = (kind: IntegrationKind, status: IntegrationStatus | 'absent') =>
  new AppError('INTEGRATION_NOT_CONNECTED', status === 'absent' ? `no ${kind} integration is connected` : `the ${kind} integration is ${status}`, { status });

export class IntegrationActor implements Actor<IntegrationMessage, unknown> {
  readonly #key: string;
  readonly #tenantId: string;
  readonly #kind: IntegrationKind;
  readonly #epoch: number;
  readonly #context: ActorContext<IntegrationMessage>;
  readonly #deps: IntegrationDeps;
  #record: IntegrationRecord | null;
  #failures: number;
  #background: BackgroundRun | null = null;
  readonly #aborts = new AbortController();
  /** Email: the running IMAP IDLE watcher, aborted when the actor stops or the credentials change. */
  #watcher: AbortController | undefined;
  /** Email: the watcher's position not saved yet (saved a second later, or on passivation). */
  #pendingCursor: MailCursor | undefined;

  private constructor(key: string, epoch: number, record: IntegrationRecord | null, context: ActorContext<IntegrationMessage>, deps: IntegrationDeps) {
    this.#key = key;
    ({ tenantId: this.#tenantId, kind: this.#kind } = parseIntegrationKey(key));
    this.#epoch = epoch;
    this.#record = record;
    this.#failures = record?.health?.isHealthy === false ? 1 : 0;
    this.#context = context;
    this.#deps = deps;
  }

  static async activate(key: string, context: ActorContext<IntegrationMessage>, deps: IntegrationDeps): Promise<IntegrationActor> {
    const { tenantId, kind } = parseIntegrationKey(key);
    const epoch = await deps.placement.epochFor(key);
    const record = await deps.store.claim(tenantId, kind, epoch);
    const actor = new IntegrationActor(key, epoch, record, context, deps);
    if (record && CHECKED_STATUSES.includes(record.status)) {
      actor.#schedule(firstCheckDelay(record.health, deps.checkIntervalMs, new Date(), Math.random));
      actor.#watchInbox(record);
    }
    return actor;
  }

  async receive(message: IntegrationMessage): Promise<unknown> {
    switch (message.type) {
      case 'get':
        if (!this.#record) throw new AppError('INTEGRATION_NOT_FOUND', `no ${this.#kind} integration`);
        return this.#view(this.#record);
      case 'wake':
        return undefined;
      case 'connect':
        return this.#connect(message.caller, message.credentials, message.config);
      case 'check':
        return this.#check(message.caller);
      case 'setEnabled':
        return this.#setEnabled(message.caller, message.enabled);
      case 'remove':
        return this.#remove(message.caller);
      case 'operate':
        return this.#operate(message.caller, message.operation, message.input);
      case 'finishBackground':
        return this.#finishBackground(message.runId, message.outcome);
      case 'saveMailCursor':
        return this.#saveMailCursor(message.cursor);
    }
  }

  async passivate(): Promise<void> {
    this.#aborts.abort();
    // Handoff or shutdown: the next owner resumes the inbox from here.
    if (this.#pendingCursor) await this.#saveMailCursor(this.#pendingCursor).catch(() => {});
  }

  destroy(): void {
    this.#aborts.abort();
  }

  // -------------------------------------------------------------------------------------------
  // Connect, enable, remove

  async #connect(caller: Caller, rawCredentials: unknown, rawConfig: unknown): Promise<IntegrationView> {
    const provider = providerOf(this.#deps.providers, this.#kind);
    const credentials = parseInput(provider.credentialsSchema, rawCredentials, 'credentials');
    let config = parseInput(provider.configSchema, rawConfig, 'config');
    const previous = this.#record;
    const id = previous?.id ?? crypto.randomUUID();
    // Stripe is told where to send events: this server's URL for the integration.
    const webhookUrl = this.#deps.webhookUrl(this.#kind, id);
    if (this.#kind === 'stripe' && webhookUrl) config = { ...config, webhookUrl };
    const started = performance.now();
    // Validated against the provider before anything is stored: a refusal changes nothing.
    const result = await this.#call((context) => provider.connect(credentials, config, context), { retry: false });
    const responseTime = performance.now() - started;
    const now = new Date();
    const mergedCredentials = { ...(credentials as Record<string, unknown>), ...(result.credentials as Record<string, unknown> | undefined) };
    const next: IntegrationRecord = {
      id,
      tenantId: this.#tenantId,
      kind: this.#kind,
      status: 'connected',
      errorMessage: null,
      credentials: this.#deps.cipher.encrypt(mergedCredentials, { tenantId: this.#tenantId, integrationId: id }),
      credentialsMask: provider.mask(mergedCredentials),
      config: { ...config, ...result.config },
      health: { lastCheckedAt: now.toISOString(), isHealthy: true, responseTime: Math.round(responseTime) },
      artifacts: previous?.artifacts ?? null,
      createdAt: previous?.createdAt ?? now,
      updatedAt: now,
    };
    const events = [
      integrationEvent('configuration.integration.connected', next, caller.principal, { config: next.config }),
      ...this.#statusEvent(previous?.status ?? 'pending', next, caller),
    ];
    await this.#save(next, { events, audits: [this.#audit(caller, 'integration.connect', previous, next)] });
    this.#failures = 0;
    this.#schedule(nextCheckDelay(this.#deps.checkIntervalMs, 0, Math.random));
    this.#watchInbox(next);
    return this.#changed('connected', next);
  }

  async #setEnabled(caller: Caller, enabled: boolean): Promise<IntegrationView> {
    const previous = this.#record;
    if (!previous) throw notConnected(this.#kind, 'absent');
    if (enabled === (previous.status !== 'disabled')) return this.#view(previous);
    if (!enabled) {
      const next: IntegrationRecord = { ...previous, status: 'disabled', updatedAt: new Date() };
      const events = [
        integrationEvent('configuration.integration.disconnected', next, caller.principal, { reason: 'disabled' }),
        ...this.#statusEvent(previous.status, next, caller),
      ];
      await this.#save(next, { events, audits: [this.#audit(caller, 'integration.disable', previous, next)] });
      this.#context.clearTimer('check');
      this.#stopWatching();
      return this.#changed('disabled', next);
    }
    // Enabling checks at once: the stored credentials may have gone stale while disabled.
    const outcome = await this.#probe(previous);
    const checked = afterCheck({ ...previous, status: 'connected' }, outcome, new Date());
    const next: IntegrationRecord = { ...previous, status: checked.status, errorMessage: checked.errorMessage, health: checked.health, updatedAt: new Date() };
    await this.#save(next, { events: this.#statusEvent(previous.status, next, caller), audits: [this.#audit(caller, 'integration.enable', previous, next)] });
    this.#failures = outcome.ok ? 0 : 1;
    this.#schedule(nextCheckDelay(this.#deps.checkIntervalMs, this.#failures, Math.random));
    this.#watchInbox(next);
    return this.#changed('enabled', next);
  }

  async #remove(caller: Caller): Promise<{ removed: true }> {
    const previous = this.#record;
    if (!previous) throw new AppError('INTEGRATION_NOT_FOUND', `no ${this.#kind} integration`);
    this.#assertOwner();
    const events = [integrationEvent('configuration.integration.disconnected', previous, caller.principal, { reason: 'removed' })];
    await this.#fenced(() => this.#deps.store.remove(previous, this.#epoch, { events, audits: [this.#audit(caller, 'integration.remove', previous, null)] }));
    this.#record = null;
    this.#context.clearTimer('check');
    this.#stopWatching();
    this.#deps.publish({ type: 'integration.changed', tenantId: this.#tenantId, kind: this.#kind, reason: 'removed', integration: null });
    return { removed: true };
  }

  // -------------------------------------------------------------------------------------------
  // Health

  async #check(caller: Caller | undefined): Promise<IntegrationView | undefined> {
    const previous = this.#record;
    if (!previous || !CHECKED_STATUSES.includes(previous.status)) {
      if (caller) throw notConnected(this.#kind, previous?.status ?? 'absent');
      return undefined;
    }
    // A node that no longer holds the key must not check (the new owner does): no duplicate checks.
    this.#assertOwner();
    let outcome: CheckOutcome;
    try {
      outcome = await this.#probe(previous);
    } catch (error) {
      if (!(error instanceof AppError && error.code === 'RATE_LIMITED') || caller) throw error;
      // The tenant's budget is spent (its own calls): the scheduled check waits, it is not a failure.
      this.#schedule(Math.max(1_000, Number(error.details?.retryAfterMs ?? 1_000)));
      return undefined;
    }
    const now = new Date();
    const checked = afterCheck(previous, outcome, now);
    const next: IntegrationRecord = { ...previous, status: checked.status, errorMessage: checked.errorMessage, health: checked.health, updatedAt: now };
    const events: EventDraft[] = [];
    if (checked.healthChanged) {
      events.push(
        integrationEvent('integration.health.changed', next, caller?.principal, {
          status: next.status,
          isHealthy: checked.health!.isHealthy,
          responseTime: checked.health!.responseTime,
          lastCheckedAt: checked.health!.lastCheckedAt,
          ...(next.errorMessage ? { errorMessage: next.errorMessage } : {}),
        }),
      );
    }
    events.push(...this.#statusEvent(previous.status, next, caller));
    await this.#save(next, { events });
    this.#failures = outcome.ok ? 0 : this.#failures + 1;
    this.#schedule(nextCheckDelay(this.#deps.checkIntervalMs, this.#failures, Math.random));
    const view = this.#view(next);
    this.#deps.publish({ type: 'integration.health', tenantId: this.#tenantId, kind: this.#kind, changed: checked.healthChanged, integration: view });
    return view;
  }

  /** One health check against the provider: its outcome, with refusals and outages as failures. */
  async #probe(record: IntegrationRecord): Promise<CheckOutcome> {
    const provider = providerOf(this.#deps.providers, this.#kind);
    const started = performance.now();
    const stop = this.#deps.metrics.integrationHealthChecks.startTimer({ kind: this.#kind });
    try {
      const credentials = this.#decrypt(record);
      await this.#call((context) => provider.check(credentials, record.config, context));
      stop({ outcome: 'healthy' });
      return { ok: true, responseTime: performance.now() - started };
    } catch (error) {
      if (error instanceof AppError && error.code === 'RATE_LIMITED') {
        stop({ outcome: 'rate_limited' });
        throw error;
      }
      const appError = error instanceof AppError ? error : undefined;
      if (!appError) this.#deps.log.warn({ err: error, kind: this.#kind, tenantId: this.#tenantId }, 'health check failed unexpectedly');
      stop({ outcome: appError?.code === 'INTEGRATION_CIRCUIT_OPEN' ? 'circuit_open' : 'unhealthy' });
      return {
        ok: false,
        responseTime: performance.now() - started,
        code: appError?.code ?? 'INTERNAL_ERROR',
        errorMessage: (appError?.message ?? 'the check failed unexpectedly').slice(0, 1_000),
      };
    }
  }

  #schedule(delayMs: number): void {
    this.#context.setTimer('check', delayMs, { type: 'check' });
  }

  // -------------------------------------------------------------------------------------------
  // Email: the inbox watcher

  /**
   * Email integrations own an IMAP IDLE connection while their actor lives (on the owning node
   * only): each new message is queued in the inbound queue (once per UIDVALIDITY and UID, so a
   * replay after a failover stores nothing twice), and the cursor is saved a moment later so a new
   * owner resumes where this one stopped. A refused login ends the watcher; the health check then
   * reports the integration failing, and reconnecting restarts it.
   */
  #watchInbox(record: IntegrationRecord): void {
    if (record.kind !== 'email') return;
    this.#stopWatching();
    const watcher = new AbortController();
    this.#watcher = watcher;
    const signal = AbortSignal.any([watcher.signal, this.#aborts.signal]);
    const cursor = record.artifacts?.mailCursor as MailCursor | undefined;
    let credentials: unknown;
    try {
      credentials = this.#decrypt(record);
    } catch {
      return;
    }
    const { email } = this.#deps.providers;
    void email
      .watchInbox(
        credentials as Parameters<typeof email.watchInbox>[0],
        record.config as Parameters<typeof email.watchInbox>[1],
        async (message) => {
          const queued = await this.#deps.inbound.enqueue([
            { tenantId: this.#tenantId, channel: 'email', externalId: `${message.uidValidity}:${message.uid}`, payload: { ...message } },
          ]);
          this.#deps.metrics.inboundMessages.inc({ channel: 'email', outcome: queued.stored > 0 ? 'stored' : 'duplicate' });
          this.#pendingCursor = { uidValidity: message.uidValidity, uid: message.uid };
          this.#context.setTimer('mailCursor', 1_000, { type: 'saveMailCursor', cursor: this.#pendingCursor });
        },
        signal,
        {
          ...(cursor ? { resumeAfter: cursor } : {}),
          // Saved at once: mail arriving while no node watches (a failover) is picked up from here.
          onReady: (ready) => this.#context.setTimer('mailCursor', 0, { type: 'saveMailCursor', cursor: ready }),
          onError: (error) => this.#deps.log.warn({ tenantId: this.#tenantId, code: error.code, message: error.message }, 'inbox watcher reconnecting'),
        },
      )
      .catch((error: unknown) => this.#deps.log.warn({ tenantId: this.#tenantId, err: error }, 'inbox watcher stopped'));
  }

  #stopWatching(): void {
    this.#watcher?.abort();
    this.#watcher = undefined;
  }

  async #saveMailCursor(cursor: MailCursor): Promise<void> {
    const record = this.#record;
    if (!record || record.kind !== 'email') return;
    const saved = record.artifacts?.mailCursor as MailCursor | undefined;
    if (saved && saved.uidValidity === cursor.uidValidity && saved.uid >= cursor.uid) return;
    await this.#save({ ...record, artifacts: { ...record.artifacts, mailCursor: cursor } }, {});
    if (this.#pendingCursor === cursor) this.#pendingCursor = undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Operations

  async #operate(caller: Caller, name: string, rawInput: unknown): Promise<unknown> {
    const spec = findOperation(this.#kind, name);
    if (!spec) throw new AppError('NOT_FOUND', `${this.#kind} has no operation ${name}`);
    const record = this.#record;
    if (!record || !CHECKED_STATUSES.includes(record.status)) throw notConnected(this.#kind, record?.status ?? 'absent');
    const input = parseInput(spec.input, rawInput, 'input');
    this.#assertOwner();
    if (spec.mode === 'background') return this.#startBackground(spec, record, input);
    const outcome = await this.#call((context) => spec.run(this.#operationRun(record, input, context)), { retry: spec.mode === 'call' });
    if (outcome.config || outcome.artifacts) {
      const next = this.#withOutcome(record, outcome);
      await this.#save(next, { audits: [this.#audit(caller, `integration.${name}`, record, next)] });
      this.#changed(name, next);
    }
    return outcome.result;
  }

  #startBackground(spec: OperationSpec, record: IntegrationRecord, input: unknown): BackgroundRun {
    if (this.#background?.state === 'running') throw new AppError('INTEGRATION_BUSY', `${this.#background.operation} is already running`, { runId: this.#background.runId });
    const run: BackgroundRun = { runId: crypto.randomUUID(), operation: spec.name, state: 'running', percent: 0, startedAt: new Date().toISOString() };
    this.#background = run;
    const signal = AbortSignal.any([this.#aborts.signal, AbortSignal.timeout(this.#deps.backgroundTimeoutMs)]);
    const publish = () => this.#deps.publish({ type: 'integration.progress', tenantId: this.#tenantId, kind: this.#kind, run: { ...run } });
    const onProgress = ({ percent }: { percent: number }) => {
      // Steps of 5 %: a progress stream, not a firehose (the end is published by finishBackground).
      const step = Math.min(95, Math.floor(percent / 5) * 5);
      if (step <= run.percent) return;
      run.percent = step;
      publish();
    };
    publish();
    // Outside the mailbox: the actor keeps answering (health checks, reads) while it runs; the
    // outcome comes back through the mailbox to be stored.
    void spec.run({ ...this.#operationRun(record, input, { tenantId: this.#tenantId, signal }), onProgress }).then(
      (outcome) => this.#context.setTimer(`background:${run.runId}`, 0, { type: 'finishBackground', runId: run.runId, outcome }),
      (error: unknown) => {
        const appError = error instanceof AppError ? error : new AppError('AI_MODEL_INIT_FAILED', 'the background operation failed');
        if (!(error instanceof AppError)) this.#deps.log.warn({ err: error, operation: spec.name }, 'background operation failed');
        this.#context.setTimer(`background:${run.runId}`, 0, { type: 'finishBackground', runId: run.runId, outcome: { error: appError } });
      },
    );
    return { ...run };
  }

  async #finishBackground(runId: string, outcome: OperationOutcome | { error: AppError }): Promise<void> {
    const run = this.#background;
    if (!run || run.runId !== runId) return;
    run.finishedAt = new Date().toISOString();
    if ('error' in outcome) {
      Object.assign(run, { state: 'failed', error: { code: outcome.error.code, message: outcome.error.message } });
    } else {
      const record = this.#record;
      if (record) {
        const next = this.#withOutcome(record, outcome);
        await this.#save(next, {});
        this.#changed(run.operation, next);
      }
      Object.assign(run, { state: 'succeeded', percent: 100, result: outcome.result });
    }
    this.#deps.publish({ type: 'integration.progress', tenantId: this.#tenantId, kind: this.#kind, run: { ...run } });
  }

  #operationRun(record: IntegrationRecord, input: unknown, context: CallContext) {
    return {
      providers: this.#deps.providers,
      input,
      tenantId: this.#tenantId,
      credentials: this.#decrypt(record),
      config: record.config,
      artifacts: record.artifacts,
      context,
      inbound: this.#deps.inbound,
      onProgress: () => {},
    };
  }

  #withOutcome(record: IntegrationRecord, outcome: OperationOutcome): IntegrationRecord {
    return {
      ...record,
      config: { ...record.config, ...outcome.config },
      artifacts: outcome.artifacts ? { ...record.artifacts, ...outcome.artifacts } : record.artifacts,
      updatedAt: new Date(),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Plumbing

  /** One provider call for this tenant: a point of its rate limit, then the resilience policies. */
  async #call<T>(work: (context: CallContext) => Promise<T>, options: { retry?: boolean } = {}): Promise<T> {
    try {
      await this.#deps.limits.take(this.#tenantId, this.#kind);
    } catch (error) {
      this.#deps.metrics.integrationRateLimited.inc({ kind: this.#kind });
      throw error;
    }
    return this.#deps.calls.run(this.#kind, this.#tenantId, work, options);
  }

  #decrypt(record: IntegrationRecord): unknown {
    if (!record.credentials) throw new AppError('INTEGRATION_AUTH_FAILED', 'no credentials are stored; connect again');
    try {
      return this.#deps.cipher.decrypt(record.credentials, { tenantId: record.tenantId, integrationId: record.id });
    } catch (error) {
      // Fail closed (a key missing from ENCRYPTION_KEYS, a tampered row): never call with garbage.
      this.#deps.log.error({ err: error, tenantId: record.tenantId, kind: record.kind }, 'stored credentials cannot be decrypted');
      throw new AppError('INTEGRATION_AUTH_FAILED', 'the stored credentials cannot be decrypted; connect again');
    }
  }

  #assertOwner(): void {
    if (!this.#deps.placement.holds(this.#key, this.#epoch)) throw new ActorFailure(`${this.#key}: this node no longer owns it`, { cause: new NotOwner(this.#key) });
  }

  async #save(next: IntegrationRecord, effects: Effects): Promise<void> {
    this.#assertOwner();
    await this.#fenced(() => this.#deps.store.save(next, this.#epoch, effects));
    this.#record = next;
  }

  /** A write refused for a newer epoch ends this activation (the host drops it; callers re-route). */
  async #fenced(write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (error) {
      if (error instanceof StaleEpochError) {
        this.#deps.placement.superseded(this.#key, error.currentEpoch);
        throw new ActorFailure(error.message, { cause: error });
      }
      throw error;
    }
  }

  #statusEvent(previousStatus: IntegrationStatus, next: IntegrationRecord, caller: Caller | undefined): EventDraft[] {
    if (previousStatus === next.status) return [];
    return [
      integrationEvent('integration.status.changed', next, caller?.principal, {
        status: next.status,
        previousStatus,
        ...(next.errorMessage ? { errorMessage: next.errorMessage } : {}),
      }),
    ];
  }

  #audit(caller: Caller, action: string, before: IntegrationRecord | null, after: IntegrationRecord | null): AuditDraft {
    // Never the credentials, not even encrypted: status and config only.
    const summary = (record: IntegrationRecord | null) => (record ? { status: record.status, config: record.config } : null);
    return {
      actorId: caller.principal.userId,
      actorRole: caller.principal.role,
      action,
      target: `${this.#kind}:${(after ?? before)?.id ?? ''}`,
      before: summary(before),
      after: summary(after),
      requestId: caller.requestId,
      ip: caller.ip,
    };
  }

  #changed(reason: string, record: IntegrationRecord): IntegrationView {
    const view = this.#view(record);
    this.#deps.publish({ type: 'integration.changed', tenantId: this.#tenantId, kind: this.#kind, reason, integration: view });
    return view;
  }

  #view(record: IntegrationRecord): IntegrationView {
    return integrationView(record, WEBHOOK_KINDS.includes(record.kind) ? this.#deps.webhookUrl(record.kind, record.id) : null, this.#background);
  }
}

/** The caller's view of a stored integration (also used for lists read straight from the store). */
export function integrationView(record: IntegrationRecord, webhookUrl: string | null, background: BackgroundRun | null = null): IntegrationView {
  const training = record.artifacts?.training;
  return {
    id: record.id,
    kind: record.kind,
    status: record.status,
    errorMessage: record.errorMessage,
    config: record.config,
    credentials: record.credentialsMask ?? {},
    health: record.health,
    webhookUrl,
    training: training && typeof training === 'object' ? (training as Record<string, unknown>) : null,
    background: background ? { ...background } : null,
    createdAt: record.createdAt.toISOString(),
    updatedAt: record.updatedAt.toISOString(),
  };
}

