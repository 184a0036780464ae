// Integrations as clients see them: the kinds, the statuses, and the wire schema of an integration
// (REST responses and /ops events). Shared by the server's routes and the client SDK.
import { z } from 'zod';

export const INTEGRATION_KINDS = ['whatsapp', 'instagram', 'email', 'stripe', 'n8n', 'ai'] as const;
export type IntegrationKind = (typeof INTEGRATION_KINDS)[number];

export const INTEGRATION_STATUSES = ['pending', 'connected', 'error', 'disabled'] as const;
export type IntegrationStatus = (typeof INTEGRATION_STATUSES)[number];

const healthSchema = z.object({ lastCheckedAt: z.string(), isHealthy: z.boolean(), responseTime: z.number().describe('ms') });
export const backgroundRunSchema = z
  .object({
    runId: z.uuid(),
    operation: z.string(),
    state: z.enum(['running', 'succeeded', 'failed']),
    percent: z.number(),
    startedAt: z.string(),
    finishedAt: z.string().optional(),
    result: z.unknown().optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
  })
  .meta({ id: 'BackgroundRun' });
export const integrationViewSchema = z
  .object({
    id: z.uuid(),
    kind: z.enum(INTEGRATION_KINDS),
    status: z.enum(INTEGRATION_STATUSES),
    errorMessage: z.string().nullable(),
    config: z.record(z.string(), z.unknown()).describe('the non-secret settings, as stored'),
    credentials: z.record(z.string(), z.string()).describe('masked hints of the stored secrets (never the secrets)'),
    health: healthSchema.nullable(),
    webhookUrl: z.string().nullable().describe('where the provider must deliver webhooks (WhatsApp, Instagram, Stripe)'),
    training: z.record(z.string(), z.unknown()).nullable().describe('AI: what the last classifier training scored'),
    background: backgroundRunSchema.nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Integration' });

export type IntegrationView = z.output<typeof integrationViewSchema>;
export type BackgroundRun = z.output<typeof backgroundRunSchema>;
