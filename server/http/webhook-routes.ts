// Inbound webhooks of WhatsApp (Cloud API), Instagram (messaging) and Stripe, under
// /api/v1/webhooks/<provider>/<integrationId>. No user token: each request is authenticated by the
// provider's signature over the RAW body, so this router is mounted before the JSON body parser
// and reads the body itself (bounded), verifies it, and only then parses it.
//
// Order of checks, and the answer of each (always the error envelope):
//   integration id not a UUID → 400 VALIDATION_FAILED; body over the limit → 413 PAYLOAD_TOO_LARGE;
//   no connected integration of that kind with that id → 404 NOT_FOUND (one answer for unknown,
//   disabled or another kind); bad signature → 403 FORBIDDEN (Meta) / 400 STRIPE_WEBHOOK_FAILED;
//   signed but not the payload we expect → 400 VALIDATION_FAILED (visible in the provider's
//   delivery log rather than silently dropped); otherwise the messages are stored (deduplicated)
//   and the answer is 200 { received, stored, duplicates }.
// The size check comes before the lookup, so a 413 says nothing about the id. Existence is only
// told apart as 404 vs 403, to whoever already holds a random UUID; the body never says more.
// Storage failures are 500s on purpose: the provider retries, and nothing is acknowledged unstored.
import type { IncomingMessage } from 'node:http';
import Router from '@koa/router';
import { z } from 'zod';
import { AppError, fieldIssues } from '../../shared/errors.ts';
import type { InboundItem, InboundStore } from '../integrations/inbound-store.ts';
import { verifyMetaHandshake, verifyMetaSignature, verifyStripeEvent } from '../integrations/webhook-signatures.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { AppContext, AppState } from './context.ts';

export type WebhookKind = 'whatsapp' | 'instagram' | 'stripe';

export type WebhookTargets = {
  /** The webhook secrets of a connected (or erroring, not disabled) integration of `kind`, decrypted; undefined when there is none. */
  secrets(
    kind: WebhookKind,
    integrationId: string,
  ): Promise<{ tenantId: string; appSecret?: string; verifyToken?: string; webhookSecret?: string } | undefined>;
};

type Target = NonNullable<Awaited<ReturnType<WebhookTargets['secrets']>>>;

export type WebhookDeps = { targets: WebhookTargets; inbound: InboundStore; metrics: Metrics; bodyLimitBytes: number; log: Logger };

type Outcome = 'accepted' | 'handshake' | 'refused' | 'invalid' | 'unknown' | 'too_large';

/** An error that also says which metric outcome it is. */
class Refusal extends Error {
  readonly outcome: Outcome;
  readonly error: AppError;
  constructor(outcome: Outcome, error: AppError) {
    super(error.message);
    this.outcome = outcome;
    this.error = error;
  }
}

const integrationId = z.uuid();

// ---- payloads: loose objects (Meta and Stripe add fields over time), strict on the fields used ----

const id = z.string().min(1).max(256);

const whatsAppMessage = z.looseObject({
  id,
  from: z.string().min(1).max(64),
  timestamp: z.string().regex(/^\d{1,12}$/),
  type: z.string().min(1).max(64),
  text: z.looseObject({ body: z.string() }).optional(),
});
const whatsAppValue = z.looseObject({
  messaging_product: z.literal('whatsapp'),
  metadata: z.looseObject({ phone_number_id: z.string().min(1).max(64) }),
  contacts: z.array(z.looseObject({ wa_id: z.string().optional(), profile: z.looseObject({ name: z.string().optional() }).optional() })).optional(),
  messages: z.array(whatsAppMessage).optional(),
  statuses: z.array(z.unknown()).optional(),
});
const whatsAppPayload = z.looseObject({
  object: z.literal('whatsapp_business_account'),
  entry: z.array(
    z.looseObject({
      id: z.string(),
      // Other fields (template status, account updates) are acknowledged and not read.
      changes: z.array(z.looseObject({ field: z.string(), value: z.unknown() })),
    }),
  ),
});

const instagramEvent = z.looseObject({
  sender: z.looseObject({ id: z.string().min(1).max(64) }),
  recipient: z.looseObject({ id: z.string().min(1).max(64) }),
  timestamp: z.number().int().nonnegative(),
  message: z.looseObject({ mid: id, text: z.string().optional(), is_echo: z.boolean().optional() }).optional(),
});
const instagramPayload = z.looseObject({
  object: z.literal('instagram'),
  entry: z.array(z.looseObject({ id: z.string(), time: z.number(), messaging: z.array(instagramEvent).optional() })),
});

const stripeEvent = z.looseObject({
  id,
  type: z.string().min(1).max(128),
  created: z.number().int(),
  livemode: z.boolean(),
  data: z.looseObject({ object: z.looseObject({ id: z.string().max(256).optional(), object: z.string().max(64) }) }),
});

function parsePayload<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new Refusal('invalid', new AppError('VALIDATION_FAILED', 'unexpected webhook payload', { issues: fieldIssues(result.error.issues) }));
  }
  return result.data;
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new Refusal('invalid', new AppError('VALIDATION_FAILED', 'the webhook body is not JSON'));
  }
}

// ---- the raw body ----

/**
 * Reads the request body up to `limit` bytes. A declared Content-Length over the limit is refused
 * before reading anything; a stream that grows past it is refused as soon as it does (the rest is
 * not read, and the connection is closed after the answer).
 */
function readRawBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new Refusal('too_large', new AppError('PAYLOAD_TOO_LARGE', `the webhook body exceeds ${limit} bytes`));
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (error: Error | undefined) => {
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (error) {
        req.pause();
        reject(error);
      } else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) finish(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = () => finish(undefined);
    const onError = () => finish(new AppError('VALIDATION_FAILED', 'the webhook body was not received completely'));
    const onClose = () => finish(new AppError('VALIDATION_FAILED', 'the webhook body was not received completely'));
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

// ---- the messages to queue, per provider ----

function whatsAppMessages(tenantId: string, payload: z.infer<typeof whatsAppPayload>): InboundItem[] {
  const items: InboundItem[] = [];
  for (const entry of payload.entry) {
    for (const change of entry.changes) {
      if (change.field !== 'messages') continue;
      const value = parsePayload(whatsAppValue, change.value);
      for (const message of value.messages ?? []) {
        const contact = value.contacts?.find((candidate) => candidate.wa_id === message.from);
        items.push({
          tenantId,
          channel: 'whatsapp',
          externalId: message.id,
          payload: {
            id: message.id,
            businessAccountId: entry.id,
            phoneNumberId: value.metadata.phone_number_id,
            from: message.from,
            ...(contact?.profile?.name !== undefined ? { fromName: contact.profile.name } : {}),
            type: message.type,
            ...(message.text !== undefined ? { text: message.text.body } : {}),
            sentAt: new Date(Number(message.timestamp) * 1000).toISOString(),
            raw: message,
          },
        });
      }
      // value.statuses (sent/delivered/read receipts of our own messages) are acknowledged only.
    }
  }
  return items;
}

function instagramMessages(tenantId: string, payload: z.infer<typeof instagramPayload>): InboundItem[] {
  const items: InboundItem[] = [];
  for (const entry of payload.entry) {
    for (const event of entry.messaging ?? []) {
      // Echoes are the account's own outgoing messages; reads, reactions, postbacks carry no message.
      if (event.message === undefined || event.message.is_echo === true) continue;
      items.push({
        tenantId,
        channel: 'instagram',
        externalId: event.message.mid,
        payload: {
          id: event.message.mid,
          accountId: entry.id,
          from: event.sender.id,
          to: event.recipient.id,
          ...(event.message.text !== undefined ? { text: event.message.text } : {}),
          sentAt: new Date(event.timestamp).toISOString(),
          raw: event,
        },
      });
    }
  }
  return items;
}

function stripeItem(tenantId: string, event: z.infer<typeof stripeEvent>): InboundItem {
  // Never the full object: it can be large (an invoice with its lines) and the consumer can fetch it.
  const object = event.data.object;
  return {
    tenantId,
    channel: 'stripe',
    externalId: event.id,
    payload: { id: event.id, type: event.type, created: event.created, livemode: event.livemode, object: { ...(object.id !== undefined ? { id: object.id } : {}), type: object.object } },
  };
}

// ---- the router ----

export function webhookRouter(deps: WebhookDeps): Router<AppState> {
  const router = new Router<AppState>({ prefix: '/api/v1/webhooks' });

  /** Runs a webhook handler: answers refusals with their envelope and counts every request once. */
  const handle = (kind: WebhookKind, handler: (ctx: AppContext, target: Target, raw: Buffer) => Promise<Outcome>) =>
    async (ctx: AppContext) => {
      let outcome: Outcome | undefined;
      try {
        const parsedId = integrationId.safeParse(ctx.params['integrationId']);
        if (!parsedId.success) throw new Refusal('invalid', new AppError('VALIDATION_FAILED', 'the integration id must be a UUID'));
        // The body is read (bounded) before the lookup so that a 413 does not depend on the id.
        const raw = ctx.method === 'POST' ? await readRawBody(ctx.req, deps.bodyLimitBytes) : Buffer.alloc(0);
        const target = await deps.targets.secrets(kind, parsedId.data.toLowerCase());
        if (target === undefined) throw new Refusal('unknown', new AppError('NOT_FOUND', `no ${kind} webhook here`));
        outcome = await handler(ctx, target, raw);
      } catch (error) {
        const refusal =
          error instanceof Refusal
            ? error
            : error instanceof AppError && (error.code === 'FORBIDDEN' || error.code === 'STRIPE_WEBHOOK_FAILED')
              ? new Refusal('refused', error)
              : undefined;
        if (refusal === undefined) throw error; // a storage failure: 500, the provider retries
        outcome = refusal.outcome;
        if (outcome === 'too_large') ctx.set('Connection', 'close');
        deps.log.info({ reqId: ctx.state.requestId, provider: kind, outcome, reason: refusal.error.details?.['reason'] ?? refusal.error.message }, 'webhook refused');
        throw refusal.error;
      } finally {
        if (outcome !== undefined) deps.metrics.webhookRequests.inc({ provider: kind, outcome });
      }
    };

  const queue = async (ctx: AppContext, items: InboundItem[], channel: InboundItem['channel']): Promise<Outcome> => {
    const result = await deps.inbound.enqueue(items);
    if (result.stored > 0) deps.metrics.inboundMessages.inc({ channel, outcome: 'stored' }, result.stored);
    if (result.duplicates > 0) deps.metrics.inboundMessages.inc({ channel, outcome: 'duplicate' }, result.duplicates);
    if (result.rejected > 0) {
      deps.metrics.inboundMessages.inc({ channel, outcome: 'rejected' }, result.rejected);
      deps.log.warn({ reqId: ctx.state.requestId, channel, rejected: result.rejected }, 'inbound messages out of bounds were not stored');
    }
    ctx.status = 200;
    ctx.body = { received: items.length, stored: result.stored, duplicates: result.duplicates };
    return 'accepted';
  };

  for (const kind of ['whatsapp', 'instagram'] as const) {
    router.get(
      `/${kind}/:integrationId`,
      handle(kind, async (ctx, target) => {
        const challenge = verifyMetaHandshake(ctx.query, target.verifyToken ?? '');
        ctx.status = 200;
        ctx.type = 'text/plain';
        ctx.set('X-Content-Type-Options', 'nosniff');
        ctx.body = challenge;
        return 'handshake';
      }),
    );
  }

  router.post(
    '/whatsapp/:integrationId',
    handle('whatsapp', async (ctx, target, raw) => {
      verifyMetaSignature(raw, ctx.get('x-hub-signature-256') || undefined, target.appSecret ?? '');
      return queue(ctx, whatsAppMessages(target.tenantId, parsePayload(whatsAppPayload, parseJson(raw))), 'whatsapp');
    }),
  );

  router.post(
    '/instagram/:integrationId',
    handle('instagram', async (ctx, target, raw) => {
      verifyMetaSignature(raw, ctx.get('x-hub-signature-256') || undefined, target.appSecret ?? '');
      return queue(ctx, instagramMessages(target.tenantId, parsePayload(instagramPayload, parseJson(raw))), 'instagram');
    }),
  );

  router.post(
    '/stripe/:integrationId',
    handle('stripe', async (ctx, target, raw) => {
      const event = verifyStripeEvent(raw, ctx.get('stripe-signature') || undefined, target.webhookSecret ?? '');
      return queue(ctx, [stripeItem(target.tenantId, parsePayload(stripeEvent, event))], 'stripe');
    }),
  );

  return router;
}
