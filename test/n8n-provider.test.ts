// The n8n provider against the n8n stand-in (test/support/n8n-standin.ts): the key check, each
// built-in template created and activated, a refused key, a timeout, a provider error, a workflow
// n8n refuses to activate, and the SSRF guard on the base URL. The same cases run against a real
// n8n with `npm run test:n8n` (test/n8n-real.test.n8n.ts).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createN8nProvider } from '../server/integrations/providers/n8n.ts';
import { startN8nStandIn, type N8nStandIn } from './support/n8n-standin.ts';
import { describeN8nProvider } from './support/n8n-cases.ts';
import { failure } from './support/failures.ts';

let standIn: N8nStandIn;
beforeAll(async () => {
  standIn = await startN8nStandIn();
});
afterAll(async () => {
  await standIn.close();
});

describeN8nProvider('the n8n provider (stand-in)', () => ({ baseUrl: standIn.url, apiKey: standIn.apiKey }));

describe('the n8n provider against stand-in faults', () => {
  const provider = createN8nProvider({ allowPrivateHosts: true });
  const context = (timeoutMs = 5_000) => ({ tenantId: 'tenant-faults', signal: AbortSignal.timeout(timeoutMs) });

  it('sends n8n a complete workflow and keeps the created id', async () => {
    const workflow = await provider.createFromTemplate(
      { apiKey: standIn.apiKey },
      { baseUrl: `${standIn.url}/` },
      'sla-breach-escalation',
      { escalationUrl: 'https://oncall.example.com/e', slackWebhookUrl: 'https://hooks.slack.com/services/x' },
      context(),
    );
    const stored = standIn.workflows.get(workflow.id);
    expect(stored).toMatchObject({ name: 'Glavito: SLA breach escalation', active: true, settings: { executionOrder: 'v1' } });
    expect(stored?.nodes.map((node) => node.type)).toEqual(['n8n-nodes-base.webhook', 'n8n-nodes-base.if', 'n8n-nodes-base.httpRequest', 'n8n-nodes-base.httpRequest']);
  });

  it('answers INTEGRATION_TIMEOUT when n8n answers too late', async () => {
    standIn.faults.delayMs = 2_000;
    try {
      const error = await failure(provider.check({ apiKey: standIn.apiKey }, { baseUrl: standIn.url }, context(200)));
      expect(error.code).toBe('INTEGRATION_TIMEOUT');
    } finally {
      delete standIn.faults.delayMs;
    }
  });

  it('answers INTEGRATION_PROVIDER_ERROR on a 5xx, on create as on check', async () => {
    standIn.faults.status = 500;
    try {
      const check = await failure(provider.check({ apiKey: standIn.apiKey }, { baseUrl: standIn.url }, context()));
      expect({ code: check.code, message: check.message }).toEqual({ code: 'INTEGRATION_PROVIDER_ERROR', message: expect.stringContaining('500') });
      const create = await failure(
        provider.createFromTemplate({ apiKey: standIn.apiKey }, { baseUrl: standIn.url }, 'ticket-created-notify', { slackWebhookUrl: 'https://hooks.slack.com/services/x' }, context()),
      );
      expect(create.code).toBe('INTEGRATION_PROVIDER_ERROR');
    } finally {
      delete standIn.faults.status;
    }
  });

  it("answers N8N_WORKFLOW_ERROR with n8n's message when n8n refuses the activation", async () => {
    const withoutHttp = await startN8nStandIn({ excludedNodeTypes: ['n8n-nodes-base.httpRequest'] });
    try {
      const error = await failure(
        provider.createFromTemplate({ apiKey: withoutHttp.apiKey }, { baseUrl: withoutHttp.url }, 'ticket-created-notify', { slackWebhookUrl: 'https://hooks.slack.com/services/x' }, context()),
      );
      expect({ code: error.code, message: error.message, details: error.details }).toEqual({
        code: 'N8N_WORKFLOW_ERROR',
        message: expect.stringContaining('Unrecognized node type: n8n-nodes-base.httpRequest'),
        details: { template: 'ticket-created-notify', status: 400 },
      });
      expect(error.message).not.toContain(withoutHttp.apiKey);
    } finally {
      await withoutHttp.close();
    }
  });

  it('answers INTEGRATION_PROVIDER_ERROR when the base URL is not an n8n instance', async () => {
    const error = await failure(provider.check({ apiKey: standIn.apiKey }, { baseUrl: `${standIn.url}/elsewhere` }, context()));
    expect(error.code).toBe('INTEGRATION_PROVIDER_ERROR');
  });
});
