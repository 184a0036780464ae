// Onboarding sessions through the REST API, on PostgreSQL and on the embedded SQLite.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLogger } from '../server/logger.ts';
import { startServer, type RunningServer } from '../server/server.ts';
import { SAMPLE_STEP_DATA } from '../shared/sample-data.ts';
import { STEP_IDS, STEPS, type StepId } from '../shared/steps.ts';
import { api, tokenFor, type Api } from './support/api.ts';
import { testConfig } from './support/config.ts';
import { createTestDatabase, uniqueName, type TestDatabase } from './support/isolation.ts';

type View = {
  session: {
    id: string;
    status: string;
    currentStep: string;
    steps: Record<StepId, { status: string }>;
    updatedAt: string;
    lastActivityAt: string;
    completedAt: string | null;
  };
  data: Record<StepId, Record<string, unknown>>;
  progress: { completedSteps: number; progressPercentage: number; currentStep: string; estimatedTimeRemaining: number };
};
type ErrorBody = { error: { code: string; message: string; details?: { issues?: { path: string }[]; missingSteps?: string[] } } };
type EventsPage = { events: { id: number; type: string; payload: Record<string, unknown> }[] };
type AuditPage = { entries: { id: number; action: string; actorId: string; target: string }[]; nextBefore: number | null };

const DIALECTS = ['sqlite', 'postgresql'] as const;

async function startOn(dialect: (typeof DIALECTS)[number], env: Record<string, string> = {}) {
  const database: TestDatabase | undefined = dialect === 'postgresql' ? await createTestDatabase() : undefined;
  const server = await startServer(
    testConfig({ ...(database ? { DATABASE_URL: database.url } : {}), ...env }),
    createLogger({ level: 'silent', nodeId: 't' }),
  );
  return {
    server,
    async stop() {
      await server.stop();
      await database?.drop();
    },
  };
}

/** A tenant of its own with an admin client and a started session. */
async function newTenant(server: RunningServer, role: 'admin' | 'owner' = 'admin') {
  const tenant = uniqueName('tenant');
  const admin = api(server.url, await tokenFor(tenant, role, 'alice'));
  const started = await admin.post<View>('/onboarding/sessions');
  expect(started.status).toBe(201);
  return { tenant, admin, id: started.body.session.id, path: `/onboarding/sessions/${started.body.session.id}` };
}

async function completeSteps(admin: Api, path: string, steps: readonly StepId[]) {
  for (const stepId of steps) {
    expect((await admin.patch(`${path}/steps/${stepId}`, SAMPLE_STEP_DATA[stepId])).status).toBe(200);
    const done = await admin.post<View>(`${path}/steps/${stepId}/complete`);
    expect({ stepId, status: done.status }).toEqual({ stepId, status: 200 });
  }
}

describe.each(DIALECTS)('onboarding sessions on %s', (dialect) => {
  let server: RunningServer;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ server, stop } = await startOn(dialect));
  });
  afterAll(() => stop());

  it('runs the whole lifecycle through REST, with its events and audit trail', async () => {
    const { admin, id, path } = await newTenant(server);
    const again = await admin.post<View>('/onboarding/sessions');
    expect({ status: again.status, id: again.body.session.id }).toEqual({ status: 200, id });

    const optionalSkipped: StepId[] = ['payment_setup', 'data_import'];
    for (const stepId of STEP_IDS) {
      if (optionalSkipped.includes(stepId)) {
        expect((await admin.post(`${path}/steps/${stepId}/skip`)).status).toBe(200);
        continue;
      }
      const written = await admin.patch<{ data: Record<string, unknown>; updateId: number }>(`${path}/steps/${stepId}`, SAMPLE_STEP_DATA[stepId]);
      expect(written.status).toBe(200);
      expect(written.body.data).toEqual(SAMPLE_STEP_DATA[stepId]);
      expect(written.body.updateId).toBeGreaterThan(0);
      const done = await admin.post<View>(`${path}/steps/${stepId}/complete`);
      expect(done.status).toBe(200);
      expect(done.body.session.steps[stepId].status).toBe('completed');
    }

    const progress = await admin.get<View['progress']>(`${path}/progress`);
    expect(progress.body).toMatchObject({ completedSteps: 11, progressPercentage: 100, estimatedTimeRemaining: 0 });

    const completed = await admin.post<View>(`${path}/complete`);
    expect(completed.status).toBe(200);
    expect(completed.body.session).toMatchObject({ status: 'completed', currentStep: 'complete' });
    expect(completed.body.session.completedAt).not.toBeNull();
    expect(completed.body.data.organization_setup).toEqual(SAMPLE_STEP_DATA.organization_setup);

    const events = (await admin.get<EventsPage>('/events?limit=200')).body.events;
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('onboarding.session.started');
    expect(types.at(-1)).toBe('onboarding.session.completed');
    expect(types.filter((t) => t === 'onboarding.step.completed')).toHaveLength(9);
    expect(types.filter((t) => t === 'onboarding.step.skipped')).toHaveLength(2);
    expect(types.filter((t) => t === 'onboarding.step.updated').length).toBeGreaterThanOrEqual(9);
    expect(events.every((e) => e.payload.sessionId === id)).toBe(true);

    const audit = (await admin.get<AuditPage>('/audit?limit=200')).body.entries;
    expect(new Set(audit.map((a) => a.action))).toEqual(new Set(['session.start', 'step.update', 'step.complete', 'step.skip', 'session.complete']));
    expect(audit.every((a) => a.actorId === 'alice')).toBe(true);
    const firstPage = (await admin.get<AuditPage>('/audit?action=step.complete&limit=4')).body;
    expect(firstPage.entries).toHaveLength(4);
    const secondPage = (await admin.get<AuditPage>(`/audit?action=step.complete&limit=10&before=${firstPage.nextBefore}`)).body;
    expect(secondPage.entries).toHaveLength(5);
    expect(secondPage.nextBefore).toBeNull();

    // A completed onboarding no longer blocks a new one.
    expect((await admin.post('/onboarding/sessions')).status).toBe(201);
  });

  it('refuses every invalid transition with its code, field paths, and no change', async () => {
    const { admin, path } = await newTenant(server);
    await completeSteps(admin, path, ['welcome']);
    const before = (await admin.get<View>(path)).body;
    const eventsBefore = (await admin.get<EventsPage>('/events?limit=200')).body.events.length;

    const refusals: [Promise<{ status: number; body: unknown }>, number, string][] = [
      [admin.post(`${path}/steps/channel_configuration/complete`), 409, 'INVALID_STEP_TRANSITION'],
      [admin.post(`${path}/steps/organization_setup/skip`), 409, 'INVALID_STEP_TRANSITION'],
      [admin.post(`${path}/complete`), 409, 'INVALID_STEP_TRANSITION'],
      [admin.post(`${path}/resume`), 409, 'INVALID_STEP_TRANSITION'],
      [admin.post(`${path}/steps/organization_setup/complete`), 400, 'CONFIGURATION_VALIDATION_FAILED'],
      [admin.patch(`${path}/steps/organization_setup`, { branding: { primaryColor: 'blue' } }), 400, 'CONFIGURATION_VALIDATION_FAILED'],
      [admin.patch(`${path}/steps/organization_setup`, { colour: 'blue' }), 400, 'CONFIGURATION_VALIDATION_FAILED'],
      [admin.patch(`${path}/steps/channel_configuration`, { email: { password: 'hunter2hunter2' } }), 400, 'CONFIGURATION_VALIDATION_FAILED'],
      [admin.patch(`${path}/steps/not_a_step`, { a: 1 }), 400, 'VALIDATION_FAILED'],
      [admin.patch(`${path}/steps/welcome`, ['not', 'an', 'object']), 400, 'VALIDATION_FAILED'],
    ];
    for (const [request, status, code] of refusals) {
      const response = await request;
      expect({ status: response.status, code: (response.body as ErrorBody).error.code }).toEqual({ status, code });
    }

    const paths = async (request: Promise<{ body: unknown }>) => ((await request).body as ErrorBody).error.details?.issues?.map((i) => i.path);
    expect(await paths(admin.patch(`${path}/steps/organization_setup`, { branding: { primaryColor: 'blue' } }))).toContain('branding.primaryColor');
    expect(await paths(admin.patch(`${path}/steps/channel_configuration`, { email: { password: 'hunter2hunter2' } }))).toContain('email.password');
    expect(await paths(admin.patch(`${path}/steps/channel_configuration`, { whatsapp: { displayName: 'sk_live_0123456789abcdefghijklmn' } }))).toEqual(
      expect.arrayContaining(['whatsapp.displayName']),
    );
    const missing = (await admin.post<ErrorBody>(`${path}/complete`)).body.error.details?.missingSteps;
    expect(missing).toEqual(expect.arrayContaining(['organization_setup', 'channel_configuration', 'team_management', 'workflow_configuration']));

    const after = (await admin.get<View>(path)).body;
    expect(after).toEqual(before);
    expect((await admin.get<EventsPage>('/events?limit=200')).body.events).toHaveLength(eventsBefore);
  });

  it('refuses edits and step changes while paused, and accepts them after resume', async () => {
    const { admin, path } = await newTenant(server);
    expect((await admin.post(`${path}/pause`)).status).toBe(200);
    const edit = await admin.patch<ErrorBody>(`${path}/steps/welcome`, { teamSize: 4 });
    expect({ status: edit.status, code: edit.body.error.code }).toEqual({ status: 409, code: 'ONBOARDING_SESSION_NOT_ACTIVE' });
    expect((await admin.post<ErrorBody>(`${path}/steps/welcome/complete`)).body.error.code).toBe('ONBOARDING_SESSION_NOT_ACTIVE');
    expect((await admin.post<ErrorBody>(`${path}/pause`)).body.error.code).toBe('ONBOARDING_SESSION_NOT_ACTIVE');
    expect((await admin.post(`${path}/resume`)).status).toBe(200);
    expect((await admin.patch(`${path}/steps/welcome`, { teamSize: 4 })).status).toBe(200);
  });

  it('keeps every write of 20 concurrent writers updating different fields of one step', async () => {
    const { admin, path } = await newTenant(server);
    const writes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => admin.patch(`${path}/steps/data_import`, { fieldMapping: { [`column_${i}`]: `field_${i}` } })),
    );
    expect(writes.map((w) => w.status)).toEqual(Array(20).fill(200));
    const mapping = (await admin.get<View>(path)).body.data.data_import.fieldMapping as Record<string, string>;
    expect(mapping).toEqual(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`column_${i}`, `field_${i}`])));
    const audit = (await admin.get<AuditPage>('/audit?action=step.update&limit=200')).body.entries;
    expect(audit).toHaveLength(20);
  });

  it('completes once when two admins complete the onboarding at the same moment', async () => {
    const { admin, tenant, path } = await newTenant(server);
    for (const stepId of STEP_IDS) {
      if (STEPS[stepId].required) await completeSteps(admin, path, [stepId]);
      else expect((await admin.post(`${path}/steps/${stepId}/skip`)).status).toBe(200);
    }
    const bob = api(server.url, await tokenFor(tenant, 'owner', 'bob'));
    const [a, b] = await Promise.all([admin.post<View>(`${path}/complete`), bob.post<View>(`${path}/complete`)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.body.session.completedAt).toBe(b.body.session.completedAt);
    const completions = (await admin.get<EventsPage>('/events?type=onboarding.session.completed')).body.events;
    expect(completions).toHaveLength(1);
    const audits = (await admin.get<AuditPage>('/audit?action=session.complete')).body.entries;
    expect(audits).toHaveLength(1);
  });

  it('converges concurrent starts of one tenant on a single session', async () => {
    const tenant = uniqueName('tenant');
    const admins = await Promise.all(Array.from({ length: 5 }, (_, i) => tokenFor(tenant, 'admin', `admin-${i}`)));
    const starts = await Promise.all(admins.map((token) => api(server.url, token).post<View>('/onboarding/sessions')));
    expect(new Set(starts.map((s) => s.body.session.id)).size).toBe(1);
    expect(starts.map((s) => s.status).sort()).toEqual([200, 200, 200, 200, 201]);
  });

  it('keeps the document byte for byte across passivation and reactivation', async () => {
    const { admin, tenant, id, path } = await newTenant(server);
    await completeSteps(admin, path, ['welcome', 'organization_setup']);
    await admin.patch(`${path}/steps/knowledge_base`, { introduction: 'Welcome to our help centre.\nAsk us anything.' });
    await admin.patch(`${path}/steps/data_import`, { fieldMapping: { a: 'b' } });
    await admin.patch(`${path}/steps/data_import`, { fieldMapping: { a: null, c: 'd' } });
    const before = await server.sessions.encodeState(tenant, id);
    await server.sessions.passivate(id);
    expect(server.sessions.isActive(id)).toBe(false);
    const after = await server.sessions.encodeState(tenant, id);
    expect(server.sessions.isActive(id)).toBe(true);
    expect(Buffer.from(after).equals(Buffer.from(before))).toBe(true);
    expect((await admin.get<View>(path)).body.data.data_import.fieldMapping).toEqual({ c: 'd' });
  });
});

describe.each(DIALECTS)('session settings on %s', (dialect) => {
  let server: RunningServer;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ server, stop } = await startOn(dialect, {
      MAX_DOCUMENT_BYTES: '20000',
      SESSION_SNAPSHOT_EVERY_UPDATES: '10',
      SESSION_ABANDON_AFTER_MS: '1000',
      STEP_DURATION_MIN_SAMPLES: '2',
      SESSION_SNAPSHOT_EVERY_BYTES: '4096',
    }));
  });
  afterAll(() => stop());

  it('estimates the time remaining from measured step durations once there are enough', async () => {
    const fresh = (await newTenant(server)).admin;
    const estimated = (await fresh.get<View>('/onboarding/sessions/current')).body.progress;
    // welcome and organization_setup take (far) less than their estimates in two sessions...
    for (let i = 0; i < 2; i += 1) {
      const { admin, path } = await newTenant(server);
      await completeSteps(admin, path, ['welcome', 'organization_setup']);
    }
    // ...so a new session's remaining time uses the measured medians for them.
    const measured = (await (await newTenant(server)).admin.get<View>('/onboarding/sessions/current')).body.progress as View['progress'] & {
      estimateSource: string;
    };
    expect(measured.estimateSource).toBe('mixed');
    const savedMinutes = STEPS.welcome.estimatedMinutes + STEPS.organization_setup.estimatedMinutes;
    expect(measured.estimatedTimeRemaining).toBeLessThanOrEqual(estimated.estimatedTimeRemaining - savedMinutes + 1);
  });

  it('compacts the update log into a snapshot and reloads the same state from it', async () => {
    const { admin, tenant, id, path } = await newTenant(server);
    for (let i = 0; i < 25; i += 1) {
      expect((await admin.patch(`${path}/steps/data_import`, { fieldMapping: { [`c${i}`]: `f${i}` } })).status).toBe(200);
    }
    const before = await server.sessions.encodeState(tenant, id);
    const logged = await server.db.em().getConnection().execute<{ n: number | string }[]>('select count(*) as n from session_update where session_id = ?', [id]);
    expect(Number(logged[0]!.n)).toBeLessThan(10);
    await server.sessions.passivate(id);
    const snapshot = await server.db.em().getConnection().execute<{ n: number | string }[]>('select count(*) as n from session_snapshot where session_id = ?', [id]);
    expect(Number(snapshot[0]!.n)).toBe(1);
    expect(Buffer.from(await server.sessions.encodeState(tenant, id)).equals(Buffer.from(before))).toBe(true);
    expect(Object.keys((await admin.get<View>(path)).body.data.data_import.fieldMapping as object)).toHaveLength(25);
  });

  it('compacts by bytes too: one large edit is enough', async () => {
    const { admin, id, path } = await newTenant(server);
    expect((await admin.patch(`${path}/steps/knowledge_base`, { introduction: 'x'.repeat(5_000) })).status).toBe(200);
    const rows = async (table: string) =>
      Number((await server.db.em().getConnection().execute<{ n: number | string }[]>(`select count(*) as n from ${table} where session_id = ?`, [id]))[0]!.n);
    const deadline = Date.now() + 5_000;
    while ((await rows('session_snapshot')) === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    expect({ snapshots: await rows('session_snapshot'), updates: await rows('session_update') }).toEqual({ snapshots: 1, updates: 0 });
  });

  it('refuses an edit that would push the document past its size limit, keeping earlier edits', async () => {
    const { admin, path } = await newTenant(server);
    expect((await admin.patch(`${path}/steps/knowledge_base`, { introduction: 'a'.repeat(9_000) })).status).toBe(200);
    const article = (n: number) => ({ id: `a${n}`, title: `Article ${n}`, categoryId: 'general', body: 'b'.repeat(5_000) });
    const tooBig = await admin.patch<ErrorBody>(`${path}/steps/knowledge_base`, {
      categories: [{ id: 'general', name: 'General' }],
      articles: [article(1), article(2), article(3)],
    });
    expect({ status: tooBig.status, code: tooBig.body.error.code }).toEqual({ status: 413, code: 'DOCUMENT_TOO_LARGE' });
    const data = (await admin.get<View>(path)).body.data.knowledge_base;
    expect(data.introduction).toHaveLength(9_000);
    expect(data.articles).toBeUndefined();
    expect((await admin.patch(`${path}/steps/welcome`, { teamSize: 3 })).status).toBe(200);
  });

  it('counts edits, not reads or compactions, as activity', async () => {
    const { admin, id, path } = await newTenant(server);
    const created = (await admin.get<View>(path)).body.session.lastActivityAt;
    await new Promise((resolve) => setTimeout(resolve, 20));
    await admin.patch(`${path}/steps/welcome`, { teamSize: 2 });
    const edited = (await admin.get<View>(path)).body.session.lastActivityAt;
    expect(new Date(edited).getTime()).toBeGreaterThan(new Date(created).getTime());
    await server.sessions.passivate(id); // compacts
    expect((await admin.get<View>(path)).body.session.lastActivityAt).toBe(edited);
  });

  it('refuses to revive an ended session while the tenant has another live one', async () => {
    const { admin, tenant, id, path } = await newTenant(server);
    await server.sessions.abandonIfInactive({ id, tenantId: tenant }, new Date(Date.now() + 60_000));
    const next = await admin.post<View>('/onboarding/sessions');
    expect(next.status).toBe(201);
    const revived = await admin.post<{ error: { code: string; details: { liveSessionId: string } } }>(`${path}/resume`);
    expect({ status: revived.status, code: revived.body.error.code }).toEqual({ status: 409, code: 'INVALID_STEP_TRANSITION' });
    expect(revived.body.error.details.liveSessionId).toBe(next.body.session.id);
    expect((await admin.get<View>(path)).body.session.status).toBe('abandoned');
  });

  it('abandons a session without activity, and lets an admin resume it', async () => {
    const { admin, path } = await newTenant(server);
    const deadline = Date.now() + 10_000;
    let status = 'active';
    while (status !== 'abandoned' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      // Reading is not activity: only writes keep a session alive.
      status = (await admin.get<View>(path)).body.session.status;
    }
    expect(status).toBe('abandoned');
    const abandoned = (await admin.get<EventsPage>('/events?type=onboarding.session.abandoned')).body.events;
    expect(abandoned).toHaveLength(1);
    expect(abandoned[0]!.payload.actor).toEqual({ userId: 'system', role: 'system' });
    expect((await admin.post<View>(`${path}/resume`)).body.session.status).toBe('active');
  });
});
