// A local stand-in for n8n's public REST API (`/api/v1`), for the provider tests. It checks what
// the real API checks on the calls the provider makes:
// - header auth `X-N8N-API-KEY`: missing → 401 `{ message: "'X-N8N-API-KEY' header required" }`,
//   wrong → 401 `{ message: 'unauthorized' }`;
// - GET /api/v1/workflows (`limit`, `{ data, nextCursor }`), GET /api/v1/workflows/{id};
// - POST /api/v1/workflows: 400 `{ message: 'request/body must have required property …' }` when
//   name, nodes, connections or settings are missing, `request/body/active is read-only` when
//   active is sent, and nodes need id/name/type/typeVersion/position/parameters;
// - POST /api/v1/workflows/{id}/activate: 400 for unknown node types and for a workflow without a
//   trigger node, 409 `{ message: 'There is a conflict with one of the webhooks.' }` for a webhook
//   path another active workflow already listens on (as n8n 2.40.7 answers); 404 `{ message: 'Not Found' }` for an unknown id;
//   POST …/deactivate.
// Fault injection: `faults.delayMs` (answer late) and `faults.status` (answer that 5xx).
// The same provider tests also run against a real n8n: `npm run test:n8n` (docs/TESTING.md).
import http from 'node:http';
import { listenOnFreePort } from './stand-in-server.ts';
import { randomUUID } from 'node:crypto';

/** Node types the stand-in knows (the core nodes the templates use, plus a few common ones). */
const KNOWN_NODE_TYPES = new Set([
  'n8n-nodes-base.webhook',
  'n8n-nodes-base.httpRequest',
  'n8n-nodes-base.if',
  'n8n-nodes-base.set',
  'n8n-nodes-base.noOp',
  'n8n-nodes-base.scheduleTrigger',
  'n8n-nodes-base.manualTrigger',
  'n8n-nodes-base.slack',
  'n8n-nodes-base.emailSend',
]);
const TRIGGER_NODE_TYPES = new Set(['n8n-nodes-base.webhook', 'n8n-nodes-base.scheduleTrigger']);

type StoredWorkflow = { id: string; name: string; active: boolean; nodes: Record<string, unknown>[]; connections: unknown; settings: unknown; createdAt: string; updatedAt: string };

export type N8nStandIn = {
  url: string;
  apiKey: string;
  workflows: Map<string, StoredWorkflow>;
  faults: { delayMs?: number; status?: number };
  /** Every request received, in order (method and path with query). */
  requests: { method: string; path: string }[];
  close(): Promise<void>;
};

/** `excludedNodeTypes`: node types the instance does not load (n8n's NODES_EXCLUDE setting). */
export async function startN8nStandIn(options: { apiKey?: string; excludedNodeTypes?: readonly string[] } = {}): Promise<N8nStandIn> {
  const apiKey = options.apiKey ?? `n8n_api_${randomUUID().replace(/-/g, '')}`;
  const excluded = new Set(options.excludedNodeTypes ?? []);
  const workflows = new Map<string, StoredWorkflow>();
  const faults: N8nStandIn['faults'] = {};
  const requests: N8nStandIn['requests'] = [];

  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', path: req.url ?? '' });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const answer = (status: number, body: unknown) => listening.json(res, status, body, faults.delayMs);
      if (faults.status) return answer(faults.status, { message: 'Internal Server Error' });
      const url = new URL(req.url ?? '/', 'http://standin');
      const key = req.headers['x-n8n-api-key'];
      if (key === undefined) return answer(401, { message: "'X-N8N-API-KEY' header required" });
      if (key !== apiKey) return answer(401, { message: 'unauthorized' });
      let body: unknown = undefined;
      if (chunks.length > 0) {
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return answer(400, { message: 'Unexpected token in JSON' });
        }
      }
      const parts = url.pathname.split('/').filter((part) => part !== '');
      if (parts[0] !== 'api' || parts[1] !== 'v1' || parts[2] !== 'workflows') return answer(404, { message: 'Not Found' });
      const id = parts[3];
      const action = parts[4];

      if (req.method === 'GET' && id === undefined) {
        const limit = Math.min(Number(url.searchParams.get('limit') ?? 100), 250);
        if (!Number.isInteger(limit) || limit < 1) return answer(400, { message: 'request/query/limit must be >= 1' });
        return answer(200, { data: [...workflows.values()].slice(0, limit), nextCursor: null });
      }
      if (req.method === 'POST' && id === undefined) {
        const problem = createProblem(body);
        if (problem) return answer(400, { message: problem });
        const input = body as Record<string, unknown>;
        const now = new Date().toISOString();
        const workflow: StoredWorkflow = {
          id: randomUUID().replace(/-/g, '').slice(0, 16),
          name: input.name as string,
          active: false,
          nodes: input.nodes as Record<string, unknown>[],
          connections: input.connections,
          settings: input.settings,
          createdAt: now,
          updatedAt: now,
        };
        workflows.set(workflow.id, workflow);
        return answer(200, workflow);
      }
      const workflow = id === undefined ? undefined : workflows.get(id);
      if (workflow === undefined) return answer(404, { message: 'Not Found' });
      if (req.method === 'GET' && action === undefined) return answer(200, workflow);
      if (req.method === 'POST' && action === 'activate') {
        const unknown = workflow.nodes.find((node) => !KNOWN_NODE_TYPES.has(node.type as string) || excluded.has(node.type as string));
        if (unknown) return answer(400, { message: `Unrecognized node type: ${String(unknown.type)}` });
        if (!workflow.nodes.some((node) => TRIGGER_NODE_TYPES.has(node.type as string))) {
          return answer(400, { message: 'Workflow has no node to start the workflow - at least one trigger, poller or webhook node is required' });
        }
        // As real n8n 2.40.7 answers (seen in `npm run test:n8n`).
        if (webhookConflict(workflow, workflows)) return answer(409, { message: 'There is a conflict with one of the webhooks.' });
        workflow.active = true;
        return answer(200, workflow);
      }
      if (req.method === 'POST' && action === 'deactivate') {
        workflow.active = false;
        return answer(200, workflow);
      }
      return answer(405, { message: 'Method Not Allowed' });
    });
  });
  // The handler above runs only once this is set (requests come after listening).
  const listening = await listenOnFreePort(server);
  return { url: listening.url, apiKey, workflows, faults, requests, close: listening.close };
}

/** The webhook node of `workflow` whose method and path another active workflow already listens on. */
function webhookConflict(workflow: StoredWorkflow, workflows: Map<string, StoredWorkflow>): string | undefined {
  const key = (node: Record<string, unknown>) => {
    const parameters = node.parameters as Record<string, unknown>;
    return `${String(parameters.httpMethod ?? 'GET')} ${String(parameters.path)}`;
  };
  const webhooks = (w: StoredWorkflow) => w.nodes.filter((node) => node.type === 'n8n-nodes-base.webhook');
  const taken = new Set([...workflows.values()].filter((w) => w.active && w.id !== workflow.id).flatMap((w) => webhooks(w).map(key)));
  return webhooks(workflow).find((node) => taken.has(key(node)))?.name as string | undefined;
}

/** What n8n's request validation says about a create body, or undefined when it passes. */
function createProblem(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'request/body must be object';
  const input = body as Record<string, unknown>;
  for (const field of ['name', 'nodes', 'connections', 'settings']) {
    if (!(field in input)) return `request/body must have required property '${field}'`;
  }
  if ('active' in input) return 'request/body/active is read-only';
  if (typeof input.name !== 'string') return 'request/body/name must be string';
  if (!Array.isArray(input.nodes)) return 'request/body/nodes must be array';
  if (typeof input.connections !== 'object' || input.connections === null) return 'request/body/connections must be object';
  if (typeof input.settings !== 'object' || input.settings === null) return 'request/body/settings must be object';
  for (const [index, node] of (input.nodes as unknown[]).entries()) {
    if (typeof node !== 'object' || node === null) return `request/body/nodes/${index} must be object`;
    for (const field of ['name', 'type', 'typeVersion', 'position', 'parameters']) {
      if (!(field in node)) return `request/body/nodes/${index} must have required property '${field}'`;
    }
  }
  return undefined;
}
