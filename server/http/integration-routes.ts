// The IntegrationService over REST (/api/v1/integrations). A tenant's owners and admins manage its
// integrations; nobody else sees them (their config names accounts and hosts). Connecting has one
// route per kind, so each provider's credential and config schemas are validated at the edge and
// documented in OpenAPI; so has each provider operation (server/integrations/operations.ts).
// Credentials go in and never come out: responses carry their masked hints only.
import { z } from 'zod';
import type { Role } from '../../shared/auth.ts';
import type { IntegrationService } from '../integrations/integration-service.ts';
import { N8N_TEMPLATE_IDS, n8nTemplateInfo } from '../integrations/n8n-templates.ts';
import { OPERATIONS } from '../integrations/operations.ts';
import { backgroundRunSchema, INTEGRATION_KINDS, integrationViewSchema, type IntegrationKind } from '../../shared/integrations.ts';
import { providerOf, type Providers } from '../integrations/providers/index.ts';
import { defineRoute, type AnyRouteSpec } from './routes.ts';

const MANAGERS: readonly Role[] = ['owner', 'admin'];
const empty = z.strictObject({});
const kindParams = z.object({ kind: z.enum(INTEGRATION_KINDS) });

const KIND_ERRORS: Record<IntegrationKind, string[]> = {
  whatsapp: ['WHATSAPP_AUTH_FAILED'],
  instagram: ['INSTAGRAM_PERMISSION_DENIED', 'INTEGRATION_AUTH_FAILED'],
  email: ['EMAIL_CONNECTION_TIMEOUT', 'INTEGRATION_AUTH_FAILED'],
  stripe: ['INTEGRATION_AUTH_FAILED'],
  n8n: ['N8N_WORKFLOW_ERROR', 'INTEGRATION_AUTH_FAILED'],
  ai: ['AI_MODEL_INIT_FAILED', 'INTEGRATION_AUTH_FAILED'],
};
/** What any provider call may answer besides its own refusals. */
const PROVIDER_ERRORS = ['INTEGRATION_TIMEOUT', 'INTEGRATION_PROVIDER_ERROR', 'INTEGRATION_CIRCUIT_OPEN', 'INTEGRATION_URL_FORBIDDEN', 'RATE_LIMITED', 'SERVICE_UNAVAILABLE'];

export function integrationRoutes(integrations: IntegrationService, providers: Providers): AnyRouteSpec[] {
  const connect = INTEGRATION_KINDS.map((kind) => {
    const provider = providerOf(providers, kind);
    return defineRoute({
      method: 'put',
      path: `/integrations/${kind}`,
      summary: `Connect ${kind}`,
      tags: ['integrations'],
      roles: MANAGERS,
      body: z.strictObject({ credentials: provider.credentialsSchema, config: provider.configSchema }),
      response: { status: 200, description: 'the credentials were accepted by the provider and stored encrypted', schema: integrationViewSchema },
      errors: [...KIND_ERRORS[kind], ...PROVIDER_ERRORS],
      handler: async ({ body, caller }) => ({ body: await integrations.connect(caller, kind, body.credentials, body.config) }),
    });
  });

  const operations = OPERATIONS.map((spec) =>
    defineRoute({
      method: 'post',
      path: `/integrations/${spec.kind}/${spec.name}`,
      summary: spec.summary,
      tags: ['integrations'],
      roles: MANAGERS,
      body: spec.input,
      response:
        spec.mode === 'background'
          ? { status: 202, description: 'started; progress on /ops as integration.progress, the result in the integration', schema: backgroundRunSchema }
          : { status: 200, description: 'the operation result', schema: spec.output },
      errors: ['INTEGRATION_NOT_CONNECTED', ...(spec.mode === 'background' ? ['INTEGRATION_BUSY'] : []), ...KIND_ERRORS[spec.kind], ...PROVIDER_ERRORS],
      handler: async ({ body, caller }) => ({ body: await integrations.operate(caller, spec.kind, spec.name, body) }),
    }),
  );

  const action = (path: string, summary: string, description: string, run: (kind: IntegrationKind, caller: Parameters<IntegrationService['check']>[0]) => Promise<unknown>, errors: string[]) =>
    defineRoute({
      method: 'post',
      path: `/integrations/:kind/${path}`,
      summary,
      tags: ['integrations'],
      roles: MANAGERS,
      params: kindParams,
      body: empty,
      response: { status: 200, description, schema: integrationViewSchema },
      errors,
      handler: async ({ params, caller }) => ({ body: await run(params.kind, caller) }),
    });

  return [
    defineRoute({
      method: 'get',
      path: '/integrations',
      summary: "List the tenant's integrations",
      tags: ['integrations'],
      roles: MANAGERS,
      response: { status: 200, description: 'every integration the tenant connected', schema: z.object({ integrations: z.array(integrationViewSchema) }) },
      handler: async ({ principal }) => ({ body: { integrations: await integrations.list(principal.tenantId) } }),
    }),
    defineRoute({
      method: 'get',
      path: '/integrations/n8n/templates',
      summary: 'List the n8n workflow templates',
      tags: ['integrations'],
      roles: MANAGERS,
      response: {
        status: 200,
        description: 'the built-in templates and the parameters each takes',
        schema: z.object({ templates: z.array(z.object({ id: z.string(), title: z.string(), params: z.record(z.string(), z.unknown()) })) }),
      },
      handler: async () => ({
        body: {
          templates: N8N_TEMPLATE_IDS.map((id) => {
            const info = n8nTemplateInfo(id);
            return { id, title: info.title, params: z.toJSONSchema(info.params, { target: 'draft-2020-12' }) as Record<string, unknown> };
          }),
        },
      }),
    }),
    defineRoute({
      method: 'get',
      path: '/integrations/:kind',
      summary: 'Get an integration',
      tags: ['integrations'],
      roles: MANAGERS,
      params: kindParams,
      response: { status: 200, description: 'the integration, with live health and background work', schema: integrationViewSchema },
      errors: ['INTEGRATION_NOT_FOUND', 'SERVICE_UNAVAILABLE'],
      handler: async ({ params, principal }) => ({ body: await integrations.get(principal.tenantId, params.kind) }),
    }),
    ...connect,
    action('check', 'Check an integration now', 'the integration after the check (its status follows the outcome)', (kind, caller) => integrations.check(caller, kind), [
      'INTEGRATION_NOT_CONNECTED',
      'RATE_LIMITED',
      'SERVICE_UNAVAILABLE',
    ]),
    action('disable', 'Disable an integration', 'disabled: no checks, webhooks refused; credentials kept', (kind, caller) => integrations.setEnabled(caller, kind, false), [
      'INTEGRATION_NOT_CONNECTED',
      'SERVICE_UNAVAILABLE',
    ]),
    action('enable', 'Enable an integration', 'checked at once and scheduled again', (kind, caller) => integrations.setEnabled(caller, kind, true), [
      'INTEGRATION_NOT_CONNECTED',
      'RATE_LIMITED',
      'SERVICE_UNAVAILABLE',
    ]),
    defineRoute({
      method: 'delete',
      path: '/integrations/:kind',
      summary: 'Remove an integration',
      tags: ['integrations'],
      roles: MANAGERS,
      params: kindParams,
      response: { status: 204, description: 'removed, with its credentials', schema: z.null() },
      errors: ['INTEGRATION_NOT_FOUND', 'SERVICE_UNAVAILABLE'],
      handler: async ({ params, caller }) => {
        await integrations.remove(caller, params.kind);
        return { status: 204, body: null };
      },
    }),
    ...operations,
  ];
}
