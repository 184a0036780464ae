// Access control of every /api/v1 onboarding route, as a table: each route that onboardingRoutes()
// declares × each caller (the five roles of tenant A, an admin of tenant B, no token, an expired
// token), on the embedded SQLite and on PostgreSQL. The expected answer of each cell comes from the
// access rules written out below, not from the route's own `roles`, so a route declared with the
// wrong roles fails here, and a new route is in the table without touching this file.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { signToken } from '../server/auth/tokens.ts';
import type { Database } from '../server/db/orm.ts';
import { onboardingRoutes } from '../server/http/onboarding-routes.ts';
import type { AnyRouteSpec } from '../server/http/routes.ts';
import { createLogger } from '../server/logger.ts';
import { startServer, type RunningServer } from '../server/server.ts';
import type { SessionService } from '../server/sessions/session-service.ts';
import { errorBodySchema } from '../shared/api.ts';
import { ROLES, type Role } from '../shared/auth.ts';
import type { ErrorCode } from '../shared/errors.ts';
import { SAMPLE_STEP_DATA } from '../shared/sample-data.ts';
import { TEST_JWT_SECRET, testConfig } from './support/config.ts';
import { createTestDatabase, type TestDatabase } from './support/isolation.ts';

// Route specs are plain data: declaring them needs no live service (their handlers are never called
// from here; the requests go to a real server, which builds its routes with the same function).
const ROUTES: readonly AnyRouteSpec[] = onboardingRoutes(undefined as unknown as SessionService, undefined as unknown as Database);

// ---------------------------------------------------------------------------------------------
// The access rules

const ADMIN_ONLY_READS = new Set(['/audit', '/events']);

/** Who may call a route: owners and admins write and read; agents and viewers read, except the audit log and events; ops nothing. */
function allowedRoles(route: AnyRouteSpec): readonly Role[] {
  if (route.method !== 'get' || ADMIN_ONLY_READS.has(route.path)) return ['owner', 'admin'];
  return ['owner', 'admin', 'agent', 'viewer'];
}

const hasSessionParam = (route: AnyRouteSpec) => route.path.includes(':sessionId');
const isWrite = (route: AnyRouteSpec) => route.method !== 'get';

type Caller =
  | { kind: 'role'; role: Role; label: string }
  | { kind: 'otherTenant'; role: Role; label: string }
  | { kind: 'noToken'; label: string }
  | { kind: 'expired'; label: string };

const CALLERS: readonly Caller[] = [
  ...ROLES.map((role): Caller => ({ kind: 'role', role, label: `${role} of tenant A` })),
  { kind: 'otherTenant', role: 'admin', label: 'admin of tenant B' },
  { kind: 'noToken', label: 'no token' },
  { kind: 'expired', label: 'expired token' },
];

type Expected = { outcome: 'allowed' } | { outcome: 'refused'; status: number; code: ErrorCode };

function expectedFor(route: AnyRouteSpec, caller: Caller): Expected {
  switch (caller.kind) {
    case 'noToken':
      return { outcome: 'refused', status: 401, code: 'AUTH_TOKEN_MISSING' };
    case 'expired':
      return { outcome: 'refused', status: 401, code: 'AUTH_TOKEN_EXPIRED' };
    case 'role':
      return allowedRoles(route).includes(caller.role) ? { outcome: 'allowed' } : { outcome: 'refused', status: 403, code: 'FORBIDDEN' };
    case 'otherTenant':
      if (!allowedRoles(route).includes(caller.role)) return { outcome: 'refused', status: 403, code: 'FORBIDDEN' };
      // Another tenant's session does not exist for this caller.
      return hasSessionParam(route) ? { outcome: 'refused', status: 404, code: 'ONBOARDING_SESSION_NOT_FOUND' } : { outcome: 'allowed' };
  }
}

/** Answers that prove the role (and tenant) check passed: success, or a refusal by the step machine. */
const STEP_MACHINE_REFUSALS: readonly string[] = ['INVALID_STEP_TRANSITION', 'ONBOARDING_SESSION_NOT_ACTIVE'];

// ---------------------------------------------------------------------------------------------
// Tenants, callers and their tokens

const suffix = crypto.randomBytes(4).toString('hex');
const TENANT_A = `acme-${suffix}`;
const TENANT_B = `globex-${suffix}`;
/** Text only tenant A's session holds: a caller of tenant B must never see it. */
const MARKER_A = `Acme private org ${suffix}`;
const userOf = (tenant: 'a' | 'b', role: Role) => `${tenant === 'a' ? 'alice' : 'bob'}-${role}-${suffix}`;

type Tokens = Record<string, string | undefined>;

async function signAll(): Promise<{ tokens: Tokens; adminA: string; adminB: string }> {
  const tokens: Tokens = {};
  for (const caller of CALLERS) {
    if (caller.kind === 'role') tokens[caller.label] = await signToken(TEST_JWT_SECRET, { sub: userOf('a', caller.role), tenant: TENANT_A, role: caller.role });
    if (caller.kind === 'otherTenant') tokens[caller.label] = await signToken(TEST_JWT_SECRET, { sub: userOf('b', caller.role), tenant: TENANT_B, role: caller.role });
    if (caller.kind === 'expired') tokens[caller.label] = await signToken(TEST_JWT_SECRET, { sub: userOf('a', 'admin'), tenant: TENANT_A, role: 'admin' }, { expiresIn: -60 });
    if (caller.kind === 'noToken') tokens[caller.label] = undefined;
  }
  return {
    tokens,
    adminA: await signToken(TEST_JWT_SECRET, { sub: userOf('a', 'admin'), tenant: TENANT_A, role: 'admin' }),
    adminB: await signToken(TEST_JWT_SECRET, { sub: userOf('b', 'admin'), tenant: TENANT_B, role: 'admin' }),
  };
}

// ---------------------------------------------------------------------------------------------
// Requests

type Reply = { status: number; body: unknown; text: string };

function urlOf(route: AnyRouteSpec, sessionId: string): string {
  const values: Record<string, string> = { sessionId, stepId: 'welcome' };
  return route.path.replace(/:(\w+)/g, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no test value for :${name} in ${route.path}: add one to urlOf()`);
    return value;
  });
}

/** The body a route is called with: sample step data where the route takes it, else `{}`. */
function bodyOf(route: AnyRouteSpec): unknown {
  if (route.body === undefined) return undefined;
  const sample: unknown = SAMPLE_STEP_DATA.welcome;
  return route.body.safeParse(sample).success ? sample : {};
}

function errorOf(body: unknown): { code?: string; message?: string } {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  return { code: typeof error?.code === 'string' ? error.code : undefined, message: typeof error?.message === 'string' ? error.message : undefined };
}

/** Every error leaves as `{ error: { code, message, details? } }` and nothing else. */
function expectErrorEnvelope(cell: string, body: unknown): void {
  const keys = body !== null && typeof body === 'object' ? Object.keys(body) : [];
  const errorKeys = keys.includes('error') ? Object.keys((body as { error: object }).error) : [];
  expect({ cell, keys, extraErrorKeys: errorKeys.filter((k) => !['code', 'message', 'details'].includes(k)) }).toEqual({
    cell,
    keys: ['error'],
    extraErrorKeys: [],
  });
  expect(errorBodySchema.safeParse(body).success).toBe(true);
}

describe.each(['sqlite', 'postgresql'] as const)('access to every onboarding route on %s', (dialect) => {
  let server: RunningServer;
  let pgDatabase: TestDatabase | undefined;
  let tokens: Tokens;
  let adminA: string;
  let adminB: string;
  /** Every session tenant A ever had in this run: none may appear in a response to tenant B. */
  const sessionIdsA = new Set<string>();
  let sessionIdB: string;
  let eventCursorA = 0;

  const call = async (method: string, path: string, token: string | undefined, body?: unknown): Promise<Reply> => {
    const response = await fetch(`${server.url}/api/v1${path}`, {
      method: method.toUpperCase(),
      headers: {
        ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, text, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
  };

  const ok = async (method: string, path: string, token: string, body: unknown, status: number): Promise<unknown> => {
    const reply = await call(method, path, token, body);
    if (reply.status !== status) throw new Error(`setup: ${method.toUpperCase()} ${path} answered ${reply.status} ${reply.text}`);
    return reply.body;
  };

  /**
   * Gives tenant A a new live session (its previous one is abandoned, the server's own way to end
   * a session) holding valid welcome data that differs from the sample, so that each write route
   * has an effect: patch changes data, step completion and pause succeed, and so on.
   */
  const freshSessionA = async (state: 'active' | 'paused'): Promise<string> => {
    const current = await call('get', '/onboarding/sessions/current', adminA);
    if (current.status === 200) {
      const { id } = (current.body as { session: { id: string } }).session;
      await server.sessions.abandonIfInactive({ id, tenantId: TENANT_A }, new Date(Date.now() + 60_000));
    } else if (current.status !== 404) {
      throw new Error(`setup: current session answered ${current.status} ${current.text}`);
    }
    const started = (await ok('post', '/onboarding/sessions', adminA, {}, 201)) as { session: { id: string } };
    const id = started.session.id;
    sessionIdsA.add(id);
    await ok('patch', `/onboarding/sessions/${id}/steps/welcome`, adminA, { ...SAMPLE_STEP_DATA.welcome, teamSize: 3 }, 200);
    await ok('patch', `/onboarding/sessions/${id}/steps/organization_setup`, adminA, { name: MARKER_A }, 200);
    if (state === 'paused') await ok('post', `/onboarding/sessions/${id}/pause`, adminA, {}, 200);
    return id;
  };

  /** What tenant A's admin sees: the session, and the newest audit entry and event of tenant A. */
  const snapshotA = async (sessionId: string) => {
    const view = await ok('get', `/onboarding/sessions/${sessionId}`, adminA, undefined, 200);
    const audit = (await ok('get', '/audit?limit=1', adminA, undefined, 200)) as { entries: { id: number }[] };
    for (;;) {
      const page = (await ok('get', `/events?after=${eventCursorA}&limit=200`, adminA, undefined, 200)) as { nextAfter: number; events: unknown[] };
      if (page.events.length === 0) break;
      eventCursorA = page.nextAfter;
    }
    return { view, newestAuditId: audit.entries[0]?.id ?? null, newestEventId: eventCursorA };
  };

  /** Nothing of tenant A (tenant id, users, sessions, data) in a reply to another caller. */
  const expectNothingOfTenantA = (cell: string, reply: Reply) => {
    const secrets = [TENANT_A, MARKER_A, ...ROLES.map((role) => userOf('a', role)), ...sessionIdsA];
    expect({ cell, leaked: secrets.filter((secret) => reply.text.includes(secret)) }).toEqual({ cell, leaked: [] });
  };

  const check = (route: AnyRouteSpec, caller: Caller, cell: string, reply: Reply) => {
    const expected = expectedFor(route, caller);
    const { code, message } = errorOf(reply.body);
    if (expected.outcome === 'refused') {
      expect({ cell, status: reply.status, code }).toEqual({ cell, status: expected.status, code: expected.code });
      expectErrorEnvelope(cell, reply.body);
      return;
    }
    // Allowed: a success with the declared body, or a refusal by the step machine (the role and
    // tenant checks passed); never 401, 403, 404, a validation error or a server error.
    const success = reply.status >= 200 && reply.status < 300;
    const machineRefusal = reply.status === 409 && code !== undefined && STEP_MACHINE_REFUSALS.includes(code);
    expect({ cell, outcome: success || machineRefusal ? 'allowed' : `${reply.status} ${code ?? ''}: ${message ?? reply.text}` }).toEqual({
      cell,
      outcome: 'allowed',
    });
    if (success) {
      // 200 instead of 201: starting when the tenant already has a live session returns that one.
      expect({ cell, status: [route.response.status, 200].includes(reply.status) }).toEqual({ cell, status: true });
      const parsed = route.response.schema.safeParse(reply.body);
      expect({ cell, issues: parsed.success ? [] : parsed.error.issues }).toEqual({ cell, issues: [] });
    } else {
      expectErrorEnvelope(cell, reply.body);
    }
  };

  beforeAll(async () => {
    if (dialect === 'postgresql') pgDatabase = await createTestDatabase();
    server = await startServer(
      testConfig({
        NODE_ID: `access-${dialect}`,
        // Progress estimates stay the static ones, so a session read twice reads the same.
        STEP_DURATION_MIN_SAMPLES: '10000',
        ...(pgDatabase ? { DATABASE_URL: pgDatabase.url } : {}),
      }),
      createLogger({ level: 'silent', nodeId: 't' }),
    );
    expect(server.db.dialect).toBe(dialect);
    ({ tokens, adminA, adminB } = await signAll());
    // Tenant B has its own live session, so its allowed calls answer with its own data.
    sessionIdB = ((await ok('post', '/onboarding/sessions', adminB, {}, 201)) as { session: { id: string } }).session.id;
  });
  afterAll(async () => {
    await server?.stop();
    await pgDatabase?.drop();
  });

  it('declares the access rules on each route as the rules say', () => {
    expect(ROUTES.length).toBeGreaterThan(0);
    for (const route of ROUTES) {
      const name = `${route.method.toUpperCase()} ${route.path}`;
      expect({ route: name, roles: [...route.roles].sort() }).toEqual({ route: name, roles: [...allowedRoles(route)].sort() });
    }
  });

  it.each(ROUTES.map((route) => [route.method.toUpperCase(), route.path, route] as const))('%s %s', async (method, path, route) => {
    let fixture = await freshSessionA('active');
    for (const caller of CALLERS) {
      const token = tokens[caller.label];
      const cell = `${dialect} ${method} ${path} as ${caller.label}`;

      if (caller.kind === 'otherTenant') {
        // Against an active and a paused session (each write has an effect on one of them), with
        // the session's actor loaded and passivated (the two ways a lookup is scoped to a tenant).
        const variants = hasSessionParam(route)
          ? (['active', 'paused'] as const).flatMap((state) => (['loaded', 'passivated'] as const).map((actor) => ({ state, actor })))
          : [{ state: 'active' as const, actor: 'loaded' as const }];
        for (const { state, actor } of variants) {
          const variantCell = `${cell} [session ${state}, actor ${actor}]`;
          fixture = await freshSessionA(state);
          if (actor === 'passivated') await server.sessions.passivate(fixture);
          const before = await snapshotA(fixture);
          if (actor === 'passivated') {
            await server.sessions.passivate(fixture);
            expect(server.sessions.isActive(fixture)).toBe(false);
          }
          const reply = await call(method, urlOf(route, fixture), token, bodyOf(route));
          check(route, caller, variantCell, reply);
          expectNothingOfTenantA(variantCell, reply);
          if (!hasSessionParam(route) && reply.status === 200 && path === '/onboarding/sessions/current') {
            expect((reply.body as { session: { id: string } }).session.id).toBe(sessionIdB);
          }
          // A cross-tenant request changes nothing of tenant A.
          expect({ cell: variantCell, after: await snapshotA(fixture) }).toEqual({ cell: variantCell, after: before });
        }
        continue;
      }

      // Each write starts from a fresh session, so an earlier allowed write (pause, complete) cannot
      // decide a later cell.
      if (isWrite(route)) fixture = await freshSessionA('active');
      const expected = expectedFor(route, caller);
      const before = expected.outcome === 'refused' && isWrite(route) ? await snapshotA(fixture) : undefined;
      const reply = await call(method, urlOf(route, fixture), token, bodyOf(route));
      check(route, caller, cell, reply);
      if (expected.outcome === 'refused') expectNothingOfTenantA(cell, reply);
      // A refused write changes nothing.
      if (before !== undefined) expect({ cell, after: await snapshotA(fixture) }).toEqual({ cell, after: before });
    }
  });
});
