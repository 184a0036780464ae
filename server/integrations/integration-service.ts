// The IntegrationService of the seed specification: what the REST routes, the webhook routes and
// the health scheduler call. It scopes every call to the caller's tenant and routes it to the
// integration's actor — on this node, or on the node that owns the key (ActorRouter) — so each
// integration has exactly one owner in the cluster, for its health checks as for its changes.
import { ActorFailure, ActorHost } from '../../actors/runtime.ts';
import { NotOwner, type Placement } from '../../actors/placement.ts';
import {
  IntegrationActor,
  integrationView,
  type IntegrationBroadcast,
  type IntegrationDeps,
  type IntegrationMessage,
} from '../../actors/integration/integration-actor.ts';
import { integrationKey, type IntegrationRecord, type IntegrationStore } from '../../actors/integration/integration-store.ts';
import type { Caller } from '../../actors/session/session-actor.ts';
import { ActorRouter, type RemoteCalls } from '../cluster/actor-router.ts';
import { StaleEpochError } from '../db/fenced-writes.ts';
import type { WebhookKind, WebhookTargets } from '../http/webhook-routes.ts';
import type { Logger } from '../logger.ts';
import type { IntegrationKind, IntegrationView } from '../../shared/integrations.ts';

/** One call to an integration, as routed to its owner (and serialized when forwarded). */
export type IntegrationCall =
  | { op: 'integration.get'; tenantId: string; kind: IntegrationKind }
  | { op: 'integration.wake'; tenantId: string; kind: IntegrationKind }
  | { op: 'integration.connect'; caller: Caller; kind: IntegrationKind; credentials: unknown; config: unknown }
  | { op: 'integration.check'; caller: Caller; kind: IntegrationKind }
  | { op: 'integration.setEnabled'; caller: Caller; kind: IntegrationKind; enabled: boolean }
  | { op: 'integration.remove'; caller: Caller; kind: IntegrationKind }
  | { op: 'integration.operate'; caller: Caller; kind: IntegrationKind; operation: string; input: unknown };

export type IntegrationServiceOptions = Omit<IntegrationDeps, 'publish' | 'placement' | 'store'> & {
  store: IntegrationStore;
  placement: Placement;
  remote?: RemoteCalls;
  /** Passivate an actor after this long without a message (scheduled checks keep it active). */
  idleMs: number;
};

const tenantOf = (call: IntegrationCall) => ('caller' in call ? call.caller.principal.tenantId : call.tenantId);

export class IntegrationService implements WebhookTargets {
  readonly #store: IntegrationStore;
  readonly #host: ActorHost<IntegrationMessage, unknown, IntegrationActor>;
  readonly #router: ActorRouter<IntegrationCall>;
  readonly #placement: Placement;
  readonly #listeners = new Set<(broadcast: IntegrationBroadcast) => void>();
  readonly #webhookUrl: IntegrationDeps['webhookUrl'];
  readonly #cipher: IntegrationDeps['cipher'];
  readonly #log: Logger;

  constructor(options: IntegrationServiceOptions) {
    this.#store = options.store;
    this.#placement = options.placement;
    this.#webhookUrl = options.webhookUrl;
    this.#cipher = options.cipher;
    this.#log = options.log;
    const deps: IntegrationDeps = {
      ...options,
      publish: (broadcast) => this.#listeners.forEach((listener) => listener(broadcast)),
    };
    this.#host = new ActorHost({
      idleMs: options.idleMs,
      activate: (key, context) => IntegrationActor.activate(key, context, deps),
      onEvent: (event, key, error) => {
        options.metrics.integrationActorsActive.set(this.#host.size);
        if (event === 'failed') options.log.warn({ key, err: error }, 'integration actor dropped');
      },
    });
    this.#router = new ActorRouter<IntegrationCall>({
      service: 'integrations',
      placement: options.placement,
      remote: options.remote,
      log: options.log,
      metrics: options.metrics,
      keyOf: (call) => integrationKey(tenantOf(call), call.kind),
      execute: (call) => this.#execute(call),
    });
    // Shards this node gives up: flush their actors (handoff) or drop them (fenced).
    options.placement.onRelease(async ({ covers, flush }) => {
      const keys = this.#host.activeIds().filter(covers);
      if (flush) await Promise.allSettled(keys.map((key) => this.#host.passivate(key)));
      else keys.forEach((key) => this.#host.drop(key));
    });
  }

  /** The tenant's integrations, as stored (read from the database, not through the actors). */
  async list(tenantId: string): Promise<IntegrationView[]> {
    const records = await this.#store.list(tenantId);
    return records.map((record) => integrationView(record, this.#webhookUrl(record.kind, record.id)));
  }

  get(tenantId: string, kind: IntegrationKind): Promise<IntegrationView> {
    return this.#router.route({ op: 'integration.get', tenantId, kind }) as Promise<IntegrationView>;
  }

  /** Validates the credentials against the provider, then stores them encrypted and connects. */
  connect(caller: Caller, kind: IntegrationKind, credentials: unknown, config: unknown): Promise<IntegrationView> {
    return this.#router.route({ op: 'integration.connect', caller, kind, credentials, config }) as Promise<IntegrationView>;
  }

  check(caller: Caller, kind: IntegrationKind): Promise<IntegrationView> {
    return this.#router.route({ op: 'integration.check', caller, kind }) as Promise<IntegrationView>;
  }

  setEnabled(caller: Caller, kind: IntegrationKind, enabled: boolean): Promise<IntegrationView> {
    return this.#router.route({ op: 'integration.setEnabled', caller, kind, enabled }) as Promise<IntegrationView>;
  }

  async remove(caller: Caller, kind: IntegrationKind): Promise<void> {
    await this.#router.route({ op: 'integration.remove', caller, kind });
  }

  operate(caller: Caller, kind: IntegrationKind, operation: string, input: unknown): Promise<unknown> {
    return this.#router.route({ op: 'integration.operate', caller, kind, operation, input });
  }

  /** Activates the integration's actor where it is owned (its health checks start with it). */
  async wake(tenantId: string, kind: IntegrationKind): Promise<void> {
    await this.#router.route({ op: 'integration.wake', tenantId, kind });
  }

  /** The webhook secrets of a live integration, for the webhook routes (server/http/webhook-routes.ts). */
  async secrets(kind: WebhookKind, integrationId: string): Promise<Awaited<ReturnType<WebhookTargets['secrets']>>> {
    const record = await this.#store.findById(integrationId);
    if (!record || record.kind !== kind || record.status === 'disabled' || record.status === 'pending') return undefined;
    const credentials = this.#credentialsOf(record);
    if (!credentials) return undefined;
    const pick = (name: string) => (typeof credentials[name] === 'string' ? { [name]: credentials[name] } : {});
    return { tenantId: record.tenantId, ...pick('appSecret'), ...pick('verifyToken'), ...pick('webhookSecret') };
  }

  /** Subscribes to every change this node's integration actors make (the /ops gateway). */
  onBroadcast(listener: (broadcast: IntegrationBroadcast) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A call another node forwarded here because this node owns the integration (or should). */
  serveForwarded(call: IntegrationCall): Promise<unknown> {
    return this.#router.route(call, true);
  }

  /** Whether this node serves the key now, and whether its actor is active (the health scheduler). */
  serves(tenantId: string, kind: IntegrationKind): boolean {
    return this.#placement.serves(integrationKey(tenantId, kind));
  }

  isActive(tenantId: string, kind: IntegrationKind): boolean {
    return this.#host.isActive(integrationKey(tenantId, kind));
  }

  get activeCount(): number {
    return this.#host.size;
  }

  async stop(): Promise<void> {
    await this.#host.stop();
  }

  /** Decrypted credentials of a stored integration, or undefined when they cannot be (fail closed). */
  #credentialsOf(record: IntegrationRecord): Record<string, unknown> | undefined {
    if (!record.credentials) return undefined;
    try {
      return this.#cipher.decrypt(record.credentials, { tenantId: record.tenantId, integrationId: record.id }) as Record<string, unknown>;
    } catch (error) {
      this.#log.error({ err: error, tenantId: record.tenantId, kind: record.kind }, 'stored credentials cannot be decrypted');
      return undefined;
    }
  }

  async #execute(call: IntegrationCall): Promise<unknown> {
    const key = integrationKey(tenantOf(call), call.kind);
    try {
      switch (call.op) {
        case 'integration.get':
          return await this.#host.ask(key, { type: 'get' });
        case 'integration.wake':
          return await this.#host.ask(key, { type: 'wake' });
        case 'integration.connect':
          return await this.#host.ask(key, { type: 'connect', caller: call.caller, credentials: call.credentials, config: call.config });
        case 'integration.check':
          return await this.#host.ask(key, { type: 'check', caller: call.caller });
        case 'integration.setEnabled':
          return await this.#host.ask(key, { type: 'setEnabled', caller: call.caller, enabled: call.enabled });
        case 'integration.remove':
          return await this.#host.ask(key, { type: 'remove', caller: call.caller });
        case 'integration.operate':
          return await this.#host.ask(key, { type: 'operate', caller: call.caller, operation: call.operation, input: call.input });
      }
    } catch (error) {
      // "This node cannot serve it now" becomes NotOwner, so the router locates the owner again.
      if (error instanceof NotOwner) throw error;
      if (error instanceof ActorFailure) {
        if (error.cause instanceof StaleEpochError) this.#placement.superseded(key, error.cause.currentEpoch);
        throw new NotOwner(error.message);
      }
      if (error instanceof StaleEpochError) {
        this.#placement.superseded(key, error.currentEpoch);
        throw new NotOwner(error.message);
      }
      throw error;
    }
  }
}
