// Built-in n8n workflow templates a tenant can create from onboarding. Each is a complete n8n
// workflow (name, nodes, connections, settings) as the public API's POST /api/v1/workflows takes
// it. They use only core nodes that need no n8n credentials (Webhook, IF, HTTP Request), so a
// freshly created workflow can be activated at once: Slack is reached through an incoming-webhook
// URL and the Glavito API through a URL with its token, both passed as template parameters.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';

export type N8nNode = {
  id: string;
  name: string;
  type: string;
  typeVersion: number;
  position: [number, number];
  parameters: Record<string, unknown>;
  webhookId?: string;
};

export type N8nWorkflow = {
  name: string;
  nodes: N8nNode[];
  connections: Record<string, { main: { node: string; type: 'main'; index: number }[][] }>;
  settings: { executionOrder: 'v1'; saveManualExecutions?: boolean };
};

const httpsUrl = z.url({ protocol: /^https?$/ }).max(2048);

/** A webhook trigger listening on `path` (POST), answering at once. */
function webhookNode(name: string, path: string): N8nNode {
  return {
    id: randomUUID(),
    name,
    type: 'n8n-nodes-base.webhook',
    typeVersion: 2,
    position: [0, 0],
    webhookId: randomUUID(),
    parameters: { httpMethod: 'POST', path, responseMode: 'onReceived', options: {} },
  };
}

/** An HTTP Request node posting `jsonBody` (an n8n expression) to `url`. */
function postNode(name: string, url: string, jsonBody: string, position: [number, number], headers: Record<string, string> = {}): N8nNode {
  const headerEntries = Object.entries(headers);
  return {
    id: randomUUID(),
    name,
    type: 'n8n-nodes-base.httpRequest',
    typeVersion: 4.2,
    position,
    parameters: {
      method: 'POST',
      url,
      ...(headerEntries.length > 0
        ? { sendHeaders: true, headerParameters: { parameters: headerEntries.map(([name, value]) => ({ name, value })) } }
        : {}),
      sendBody: true,
      specifyBody: 'json',
      jsonBody,
      options: {},
    },
  };
}

const link = (to: string, index = 0) => [{ node: to, type: 'main' as const, index }];
const settings = { executionOrder: 'v1' as const };

/** The webhook path a tenant's workflow listens on (unique per tenant and template). */
const webhookPath = (tenantId: string, template: string) => `glavito/${tenantId.replace(/[^A-Za-z0-9_-]/g, '-')}/${template}`;

const templates = {
  'ticket-created-notify': {
    title: 'Ticket created → Slack notification',
    params: z.strictObject({ slackWebhookUrl: httpsUrl }),
    build(tenantId: string, params: { slackWebhookUrl: string }): N8nWorkflow {
      const trigger = webhookNode('Ticket created', webhookPath(tenantId, 'ticket-created'));
      const notify = postNode(
        'Notify Slack',
        params.slackWebhookUrl,
        '={{ JSON.stringify({ text: "New ticket #" + $json.body.ticketId + ": " + $json.body.subject }) }}',
        [260, 0],
      );
      return {
        name: 'Glavito: ticket created → Slack',
        nodes: [trigger, notify],
        connections: { [trigger.name]: { main: [link(notify.name)] } },
        settings,
      };
    },
  },
  'sla-breach-escalation': {
    title: 'SLA breach → escalation (urgent tickets to the on-call URL, others to Slack)',
    params: z.strictObject({ escalationUrl: httpsUrl, slackWebhookUrl: httpsUrl }),
    build(tenantId: string, params: { escalationUrl: string; slackWebhookUrl: string }): N8nWorkflow {
      const trigger = webhookNode('SLA breached', webhookPath(tenantId, 'sla-breach'));
      const urgent: N8nNode = {
        id: randomUUID(),
        name: 'Is urgent',
        type: 'n8n-nodes-base.if',
        typeVersion: 2,
        position: [260, 0],
        parameters: {
          conditions: {
            options: { caseSensitive: true, leftValue: '', typeValidation: 'loose' },
            combinator: 'and',
            conditions: [{ id: randomUUID(), leftValue: '={{ $json.body.priority }}', rightValue: 'urgent', operator: { type: 'string', operation: 'equals' } }],
          },
          options: {},
        },
      };
      const escalate = postNode('Escalate to on-call', params.escalationUrl, '={{ JSON.stringify($json.body) }}', [520, -100]);
      const notify = postNode(
        'Notify Slack',
        params.slackWebhookUrl,
        '={{ JSON.stringify({ text: "SLA breached on ticket #" + $json.body.ticketId }) }}',
        [520, 100],
      );
      return {
        name: 'Glavito: SLA breach escalation',
        nodes: [trigger, urgent, escalate, notify],
        connections: {
          [trigger.name]: { main: [link(urgent.name)] },
          [urgent.name]: { main: [link(escalate.name), link(notify.name)] },
        },
        settings,
      };
    },
  },
  'whatsapp-message-ticket': {
    title: 'New WhatsApp message → create ticket',
    params: z.strictObject({ ticketsApiUrl: httpsUrl, apiToken: z.string().min(1).max(4096) }),
    build(tenantId: string, params: { ticketsApiUrl: string; apiToken: string }): N8nWorkflow {
      const trigger = webhookNode('WhatsApp message received', webhookPath(tenantId, 'whatsapp-message'));
      const create = postNode(
        'Create ticket',
        params.ticketsApiUrl,
        '={{ JSON.stringify({ channel: "whatsapp", from: $json.body.from, subject: "WhatsApp message from " + $json.body.from, body: $json.body.text }) }}',
        [260, 0],
        { Authorization: `Bearer ${params.apiToken}` },
      );
      return {
        name: 'Glavito: WhatsApp message → ticket',
        nodes: [trigger, create],
        connections: { [trigger.name]: { main: [link(create.name)] } },
        settings,
      };
    },
  },
} as const;

export type N8nTemplateId = keyof typeof templates;
export const N8N_TEMPLATE_IDS = Object.keys(templates) as N8nTemplateId[];

export function isN8nTemplateId(id: string): id is N8nTemplateId {
  return Object.hasOwn(templates, id);
}

/** The template's title and the parameter schema it takes. */
export function n8nTemplateInfo(id: N8nTemplateId): { title: string; params: z.ZodType<Record<string, string>> } {
  return { title: templates[id].title, params: templates[id].params };
}

/** Builds the workflow of template `id` for `tenantId` from already validated `params`. */
export function buildN8nWorkflow(id: N8nTemplateId, tenantId: string, params: Record<string, string>): N8nWorkflow {
  const template = templates[id];
  // Each template's params were validated against its own schema by the caller.
  return (template.build as (tenantId: string, params: Record<string, string>) => N8nWorkflow)(tenantId, params);
}
