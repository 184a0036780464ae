// The OpenAPI document at /api/openapi.json describes every route identityRoutes(), onboardingRoutes() and integrationRoutes() declare, and
// what real calls answer matches the zod response schemas the document is generated from.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { signToken } from '../server/auth/tokens.ts';
import type { Database } from '../server/db/orm.ts';
import { identityRoutes } from '../server/http/identity-routes.ts';
import { onboardingRoutes } from '../server/http/onboarding-routes.ts';
import { integrationRoutes } from '../server/http/integration-routes.ts';
import type { IntegrationService } from '../server/integrations/integration-service.ts';
import { createProviders } from '../server/integrations/providers/index.ts';
import type { AnyRouteSpec } from '../server/http/routes.ts';
import { createLogger } from '../server/logger.ts';
import { startServer, type RunningServer } from '../server/server.ts';
import type { SessionService } from '../server/sessions/session-service.ts';
import { ROLES } from '../shared/auth.ts';
import { ERROR_STATUS, type ErrorCode } from '../shared/errors.ts';
import { SAMPLE_STEP_DATA } from '../shared/sample-data.ts';
import { STEP_IDS, type StepId } from '../shared/steps.ts';
import { TEST_JWT_SECRET, testConfig } from './support/config.ts';

// Route specs are plain data: declaring them needs no live service (handlers are not called here).
const ROUTES: readonly AnyRouteSpec[] = [
  ...identityRoutes(),
  ...onboardingRoutes(undefined as unknown as SessionService, undefined as unknown as Database),
  ...integrationRoutes(
    undefined as unknown as IntegrationService,
    createProviders({ graphUrl: 'https://graph.facebook.com', graphVersion: 'v22.0', stripeApiUrl: 'https://api.stripe.com', timeoutMs: 1_000, allowPrivateHosts: false }),
  ),
];

type Json = Record<string, unknown>;
type Operation = {
  summary?: string;
  description?: string;
  operationId?: string;
  security?: unknown;
  parameters?: { name: string; in: string; required?: boolean; schema?: Json }[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Json }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Json }> }>;
};

const openApiPath = (route: AnyRouteSpec) => `/api/v1${route.path.replace(/:(\w+)/g, '{$1}')}`;
const routeName = (route: AnyRouteSpec) => `${route.method.toUpperCase()} ${route.path}`;
const pathParams = (route: AnyRouteSpec) => [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
const jsonSchemaOf = (content: Record<string, { schema?: Json }> | undefined) => content?.['application/json']?.schema;

/** Every `$ref` in a JSON value, with the path where it appears. */
function refsIn(value: unknown, at: string, found: { at: string; ref: string }[] = []): { at: string; ref: string }[] {
  if (Array.isArray(value)) value.forEach((item, index) => refsIn(item, `${at}/${index}`, found));
  else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key === '$ref' && typeof item === 'string') found.push({ at, ref: item });
      else refsIn(item, `${at}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`, found);
    }
  }
  return found;
}

/** Resolves a same-document JSON pointer (`#/a/b`) from the document root; undefined if it does not. */
function resolvePointer(document: unknown, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = document;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

let server: RunningServer;
let document: Json;
let documentStatus: number;
const tenant = `openapi-${crypto.randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  server = await startServer(testConfig({ NODE_ID: 'openapi' }), createLogger({ level: 'silent', nodeId: 't' }));
  const response = await fetch(`${server.url}/api/openapi.json`); // no Authorization header
  documentStatus = response.status;
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  document = (await response.json()) as Json;
});
afterAll(() => server.stop());

const operationOf = (route: AnyRouteSpec): Operation | undefined =>
  (document.paths as Record<string, Record<string, Operation>> | undefined)?.[openApiPath(route)]?.[route.method];

describe('the OpenAPI document', () => {
  it('is served without a token as OpenAPI 3.1 with a bearer security scheme', () => {
    expect(documentStatus).toBe(200);
    expect(document.openapi).toMatch(/^3\.1\.\d+$/);
    expect(document.info).toEqual(expect.objectContaining({ title: expect.any(String), version: expect.any(String) }));
    expect(document.components).toEqual(
      expect.objectContaining({ securitySchemes: { bearer: expect.objectContaining({ type: 'http', scheme: 'bearer' }) } }),
    );
  });

  it('has exactly one operation per route, with unique operation ids', () => {
    const documented = Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method} ${path}`),
    );
    expect(documented.sort()).toEqual(ROUTES.map((route) => `${route.method} ${openApiPath(route)}`).sort());
    const ids = ROUTES.map((route) => operationOf(route)?.operationId);
    expect(ids.every((id) => typeof id === 'string' && id !== '')).toBe(true);
    expect(new Set(ids).size).toBe(ROUTES.length);
  });

  it.each(ROUTES.map((route) => [routeName(route), route] as const))('documents %s', (name, route) => {
    const operation = operationOf(route);
    expect({ name, documented: operation !== undefined }).toEqual({ name, documented: true });
    if (operation === undefined) return;

    expect(operation.summary).toBe(route.summary);
    expect(operation.security).toEqual([{ bearer: [] }]);

    // Roles: exactly the route's, named in the description.
    const listed = /Roles: ([a-z, ]+)\./.exec(operation.description ?? '')?.[1]?.split(', ') ?? [];
    expect({ name, roles: [...listed].sort() }).toEqual({ name, roles: [...route.roles].sort() });
    for (const role of ROLES.filter((r) => !route.roles.includes(r))) expect(listed).not.toContain(role);

    // Path parameters: each `:param` (and no other) as a required `in: path` parameter with a schema.
    const documentedPathParams = (operation.parameters ?? []).filter((p) => p.in === 'path');
    expect(documentedPathParams.map((p) => p.name).sort()).toEqual(pathParams(route).sort());
    for (const parameter of documentedPathParams) {
      expect(parameter.required).toBe(true);
      expect(parameter.schema).toEqual(expect.objectContaining({ type: 'string' }));
    }
    // Query parameters: each field of the route's query schema.
    const queryShape = (route.query as unknown as { shape?: Record<string, unknown> } | undefined)?.shape ?? {};
    expect((operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name).sort()).toEqual(Object.keys(queryShape).sort());

    // Request body: documented exactly for the routes that take one, as a JSON object schema.
    if (route.body !== undefined) {
      expect(operation.requestBody?.required).toBe(true);
      expect(jsonSchemaOf(operation.requestBody?.content)).toEqual(expect.objectContaining({ type: 'object' }));
    } else {
      expect(operation.requestBody).toBeUndefined();
    }

    // Success: the declared status with a JSON schema.
    const success = operation.responses?.[String(route.response.status)];
    expect(success?.description).toBe(route.response.description);
    const successSchema = jsonSchemaOf(success?.content);
    expect(successSchema !== undefined && Object.keys(successSchema).length > 0).toBe(true);

    // Errors: 401 and 403 at least, and every error code the route declares under its status,
    // each with the error envelope's schema.
    const statuses = new Set(['401', '403', ...(route.errors ?? []).map((code) => String(ERROR_STATUS[code as ErrorCode]))]);
    for (const status of statuses) {
      const response = operation.responses?.[status];
      expect({ name, status, documented: response !== undefined }).toEqual({ name, status, documented: true });
      expect(jsonSchemaOf(response?.content)).toBeDefined();
    }
    for (const code of route.errors ?? []) {
      expect(Object.hasOwn(ERROR_STATUS, code)).toBe(true);
      expect(operation.responses?.[String(ERROR_STATUS[code as ErrorCode])]?.description).toContain(code);
    }
    expect(operation.responses?.['403']?.description).toContain('FORBIDDEN');
    if (route.path.includes(':sessionId')) expect(operation.responses?.['404']?.description).toContain('ONBOARDING_SESSION_NOT_FOUND');
  });

  it('has only references that resolve within the document', () => {
    // In OpenAPI 3.1 a Schema Object without $id takes the document as its base: `#/...` is a
    // pointer from the document root, so schemas must point at components, not at local $defs.
    const unresolved = refsIn(document, '#').filter(({ ref }) => resolvePointer(document, ref) === undefined);
    expect({ unresolved: unresolved.length, first: unresolved.slice(0, 3) }).toEqual({ unresolved: 0, first: [] });
  });
});

describe('real responses match the route response schemas', () => {
  let token: string;

  const routeOf = (method: AnyRouteSpec['method'], path: string): AnyRouteSpec => {
    const route = ROUTES.find((r) => r.method === method && r.path === path);
    if (route === undefined) throw new Error(`no route ${method.toUpperCase()} ${path}`);
    return route;
  };

  /** Calls a route (path params filled in) and checks its status and body against the route's spec. */
  const callRoute = async (
    method: AnyRouteSpec['method'],
    path: string,
    params: { sessionId?: string; stepId?: StepId } = {},
    body?: unknown,
    query = '',
  ): Promise<unknown> => {
    const route = routeOf(method, path);
    const url = route.path.replace(/:(\w+)/g, (_m, name: string) => {
      const value = (params as Record<string, string | undefined>)[name];
      if (value === undefined) throw new Error(`no value for :${name}`);
      return value;
    });
    const response = await fetch(`${server.url}/api/v1${url}${query}`, {
      method: method.toUpperCase(),
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const received = (await response.json()) as unknown;
    const call = `${method.toUpperCase()} ${url}`;
    expect({ call, status: response.status, body: response.status === route.response.status ? 'ok' : received }).toEqual({
      call,
      status: route.response.status,
      body: 'ok',
    });
    const parsed = route.response.schema.safeParse(received);
    expect({ call, issues: parsed.success ? [] : parsed.error.issues }).toEqual({ call, issues: [] });
    // Nothing undocumented: parsing (which drops unknown keys) gives back the whole body.
    expect({ call, body: parsed.data }).toEqual({ call, body: received });
    return received;
  };

  type View = { session: { id: string; status: string; currentStep: string; steps: Record<string, { status: string }> }; data: Record<string, Json> };

  beforeAll(async () => {
    token = await signToken(TEST_JWT_SECRET, { sub: 'openapi-admin', tenant, role: 'admin' });
  });

  it('for a whole onboarding, from start to completion, then steps, audit and events', async () => {
    const started = (await callRoute('post', '/onboarding/sessions', {}, {})) as View;
    const sessionId = started.session.id;
    expect(started.session.status).toBe('active');

    expect(((await callRoute('get', '/onboarding/sessions/current')) as View).session.id).toBe(sessionId);
    expect(((await callRoute('get', '/onboarding/sessions/:sessionId', { sessionId })) as View).session.id).toBe(sessionId);
    const progress = (await callRoute('get', '/onboarding/sessions/:sessionId/progress', { sessionId })) as { totalSteps: number; completedSteps: number };
    expect(progress).toEqual(expect.objectContaining({ totalSteps: STEP_IDS.length, completedSteps: 0 }));

    const patchStep = '/onboarding/sessions/:sessionId/steps/:stepId';
    const completeStep = '/onboarding/sessions/:sessionId/steps/:stepId/complete';
    const skipStep = '/onboarding/sessions/:sessionId/steps/:stepId/skip';
    const complete = async (stepId: StepId) => {
      const write = (await callRoute('patch', patchStep, { sessionId, stepId }, SAMPLE_STEP_DATA[stepId])) as { stepId: string; data: Json };
      expect(write.stepId).toBe(stepId);
      expect(write.data).toEqual(SAMPLE_STEP_DATA[stepId]);
      const view = (await callRoute('post', completeStep, { sessionId, stepId }, {})) as View;
      expect(view.session.steps[stepId]?.status).toBe('completed');
    };
    const skip = async (stepId: StepId) => {
      const view = (await callRoute('post', skipStep, { sessionId, stepId }, {})) as View;
      expect(view.session.steps[stepId]?.status).toBe('skipped');
    };

    await complete('welcome');
    await complete('organization_setup');
    await complete('channel_configuration');
    await skip('ai_configuration');

    expect(((await callRoute('post', '/onboarding/sessions/:sessionId/pause', { sessionId }, {})) as View).session.status).toBe('paused');
    expect(((await callRoute('post', '/onboarding/sessions/:sessionId/resume', { sessionId }, {})) as View).session.status).toBe('active');

    await skip('knowledge_base');
    await skip('payment_setup');
    await complete('team_management');
    await complete('workflow_configuration');

    const done = (await callRoute('post', '/onboarding/sessions/:sessionId/complete', { sessionId }, {})) as View;
    expect(done.session).toEqual(expect.objectContaining({ status: 'completed', currentStep: 'complete' }));

    const list = (await callRoute('get', '/onboarding/steps')) as { steps: { id: string }[] };
    expect(list.steps.map((s) => s.id)).toEqual([...STEP_IDS]);
    for (const stepId of STEP_IDS) {
      expect(((await callRoute('get', '/onboarding/steps/:stepId', { stepId })) as { id: string }).id).toBe(stepId);
    }

    const audit = (await callRoute('get', '/audit', {}, undefined, '?limit=200')) as { entries: { action: string; target: string }[] };
    expect(audit.entries.map((e) => e.action)).toEqual(expect.arrayContaining(['session.start', 'step.update', 'step.complete', 'step.skip', 'session.pause', 'session.resume', 'session.complete']));
    const events = (await callRoute('get', '/events', {}, undefined, '?limit=200')) as { events: { type: string; payload: Json }[] };
    expect(events.events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['onboarding.session.started', 'onboarding.step.completed', 'onboarding.session.completed']),
    );
    expect(events.events.every((e) => e.payload.sessionId === sessionId)).toBe(true);
  });
});
