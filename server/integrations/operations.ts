// What a connected integration can do besides connect and check, one entry per operation: its
// input schema (validated before the actor runs it), how it calls the provider, and what it keeps
// (config, artifacts). The REST routes and the OpenAPI document are built from this table.
//   mode `call`: idempotent provider call, retried; `create`: creates something at the provider,
//   never retried (a timeout may hide a success); `background`: local work that outlives the
//   request (model training), reported through progress events.
import { z } from 'zod';
import { AppError } from '../../shared/errors.ts';
import { trainingSampleSchema, type ClassifierModel } from './ai/classifier.ts';
import type { InboundStore } from './inbound-store.ts';
import { N8N_TEMPLATE_IDS } from './n8n-templates.ts';
import type { CallContext, IntegrationKind } from './provider.ts';
import type { AiConfig, AiCredentials } from './providers/ai.ts';
import type { Providers } from './providers/index.ts';
import type { InstagramConfig, InstagramCredentials } from './providers/instagram.ts';
import type { N8nConfig, N8nCredentials } from './providers/n8n.ts';
import type { StripeCredentials } from './providers/stripe.ts';

/** What an operation gets: the decrypted credentials and stored state of its integration. */
export type OperationRun<I> = {
  providers: Providers;
  input: I;
  tenantId: string;
  credentials: unknown;
  config: Record<string, unknown>;
  artifacts: Record<string, unknown> | null;
  context: CallContext;
  inbound: InboundStore;
  /** Background operations report progress (0–100) through this. */
  onProgress(progress: Record<string, unknown> & { percent: number }): void;
};

/** What an operation answers, and what its integration keeps from it. */
export type OperationOutcome = { result: unknown; config?: Record<string, unknown>; artifacts?: Record<string, unknown> };

export type OperationSpec<I = unknown> = {
  kind: IntegrationKind;
  name: string;
  summary: string;
  mode: 'call' | 'create' | 'background';
  input: z.ZodType<I>;
  output: z.ZodType;
  run(run: OperationRun<I>): Promise<OperationOutcome>;
};

const operation = <I>(spec: OperationSpec<I>) => spec as unknown as OperationSpec;

const plansSchema = z.array(z.strictObject({ name: z.string().min(1).max(100), productId: z.string(), priceId: z.string() }));

export const OPERATIONS: readonly OperationSpec[] = [
  operation({
    kind: 'stripe',
    name: 'connect-account',
    summary: "Create the tenant's Stripe Connect account and its onboarding link",
    mode: 'create',
    input: z.strictObject({
      country: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 country code').optional(),
      email: z.email().max(320).optional(),
      refreshUrl: z.url({ protocol: /^https?$/ }).max(2048),
      returnUrl: z.url({ protocol: /^https?$/ }).max(2048),
    }),
    output: z.object({ accountId: z.string(), onboardingUrl: z.string(), expiresAt: z.string() }),
    async run({ providers, input, credentials, context }) {
      const account = await providers.stripe.createConnectAccount(credentials as StripeCredentials, input, context);
      return { result: account, config: { connectAccountId: account.accountId } };
    },
  }),
  operation({
    kind: 'stripe',
    name: 'sync-plans',
    summary: 'Create one Stripe product and recurring price per plan (idempotent)',
    mode: 'call',
    input: z.strictObject({
      currency: z.string().regex(/^[A-Za-z]{3}$/, 'must be an ISO 4217 currency code'),
      plans: z
        .array(z.strictObject({ name: z.string().min(1).max(100), amount: z.int().min(0).max(99_999_999), interval: z.enum(['month', 'year']) }))
        .min(1)
        .max(20),
    }),
    output: z.object({ plans: plansSchema }),
    async run({ providers, input, credentials, context }) {
      const plans = await providers.stripe.syncPlans(credentials as StripeCredentials, input.currency, input.plans, context);
      return { result: { plans }, config: { plans } };
    },
  }),
  operation({
    kind: 'n8n',
    name: 'create-workflow',
    summary: "Create a workflow from a built-in template on the tenant's n8n and activate it (once per template: asking again answers the existing one)",
    mode: 'create',
    input: z.strictObject({ template: z.enum(N8N_TEMPLATE_IDS as [string, ...string[]]), params: z.record(z.string(), z.string().max(2048)).default({}) }),
    output: z.object({ template: z.string(), id: z.string(), active: z.boolean() }),
    async run({ providers, input, credentials, config, context }) {
      // One workflow per tenant and template: its webhook path is unique per tenant and template,
      // so a second one could never be active beside the first (n8n refuses, or — 2.40.7, see
      // docs/TESTING.md — sometimes half-accepts it). Asking again answers the one that exists.
      const existing = ((config as N8nConfig).workflows ?? []).find((workflow) => workflow.template === input.template);
      if (existing) return { result: existing };
      const workflow = await providers.n8n.createFromTemplate(credentials as N8nCredentials, config as N8nConfig, input.template, input.params, context);
      return { result: workflow, config: { workflows: [...((config as N8nConfig).workflows ?? []), workflow] } };
    },
  }),
  operation({
    kind: 'instagram',
    name: 'sync-messages',
    summary: 'Pull the Instagram direct messages received since a time into the inbound queue',
    mode: 'call',
    input: z.strictObject({ since: z.iso.datetime({ offset: true }) }),
    output: z.object({ fetched: z.int(), stored: z.int(), duplicates: z.int() }),
    async run({ providers, input, tenantId, credentials, config, context, inbound }) {
      const messages = await providers.instagram.syncMessages(credentials as InstagramCredentials, config as InstagramConfig, new Date(input.since), context);
      const inboundOnly = messages.filter((message) => message.direction === 'inbound');
      const queued = await inbound.enqueue(inboundOnly.map((message) => ({ tenantId, channel: 'instagram' as const, externalId: message.id, payload: message })));
      return { result: { fetched: messages.length, stored: queued.stored, duplicates: queued.duplicates } };
    },
  }),
  operation({
    kind: 'ai',
    name: 'analyze',
    summary: 'Detect the language, sentiment and (with a trained model) category of a ticket',
    mode: 'call',
    input: z.strictObject({ text: z.string().min(1).max(5_000) }),
    output: z.object({
      language: z.object({ code: z.string(), confidence: z.number() }),
      sentiment: z.object({ label: z.string(), score: z.number() }),
      category: z.object({ label: z.string(), confidence: z.number() }).optional(),
    }),
    async run({ providers, input, credentials, config, artifacts, context }) {
      const model = artifacts?.classifier as ClassifierModel | undefined;
      return { result: await providers.ai.analyze(credentials as AiCredentials, config as AiConfig, input.text, model, context) };
    },
  }),
  operation({
    kind: 'ai',
    name: 'train',
    summary: "Train the local ticket classifier on the tenant's labelled sample tickets (in the background)",
    mode: 'background',
    input: z.strictObject({ samples: z.array(trainingSampleSchema).min(1).max(5_000) }),
    output: z.object({ accuracy: z.number(), trainSize: z.int(), testSize: z.int(), labels: z.array(z.object({ label: z.string() }).loose()), durationMs: z.number() }),
    async run({ providers, input, config, context, onProgress }) {
      if ((config as AiConfig).provider !== 'local') {
        throw new AppError('AI_MODEL_INIT_FAILED', 'only the local provider trains a classifier; an OpenAI-compatible model classifies by prompt');
      }
      const trained = await providers.ai.train(input.samples, { signal: context.signal, onProgress });
      const { model, ...summary } = trained;
      // The model stays server-side (artifacts); what it scored is shown with the integration.
      return { result: summary, artifacts: { classifier: model, training: { ...summary, trainedAt: new Date().toISOString() } } };
    },
  }),
];

export function findOperation(kind: IntegrationKind, name: string): OperationSpec | undefined {
  return OPERATIONS.find((spec) => spec.kind === kind && spec.name === name);
}
