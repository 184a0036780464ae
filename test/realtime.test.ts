// Live collaboration over the /sessions namespace, on PostgreSQL and on the embedded SQLite.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { messageYjsUpdate } from 'y-protocols/sync';
import * as Y from 'yjs';
import { documentData } from '../actors/session/document.ts';
import { createLogger } from '../server/logger.ts';
import { startServer, type RunningServer } from '../server/server.ts';
import { api, tokenFor } from './support/api.ts';
import { testConfig } from './support/config.ts';
import { createTestDatabase, uniqueName, type TestDatabase } from './support/isolation.ts';
import { frame, LiveClient, type Reply } from './support/live-client.ts';

const until = async (condition: () => boolean, what: string, ms = 5_000) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe('shutdown with live editors connected', () => {
  it('disconnects /sessions clients and stops', async () => {
    const server = await startServer(testConfig(), createLogger({ level: 'silent', nodeId: 't' }));
    const tenant = uniqueName('tenant');
    const admin = api(server.url, await tokenFor(tenant, 'admin'));
    const { body } = await admin.post<{ session: { id: string } }>('/onboarding/sessions');
    const live = new LiveClient(server.url, await tokenFor(tenant, 'admin'));
    await live.connect();
    await live.join(body.session.id);
    const gone = new Promise<string>((resolve) => live.socket.on('disconnect', resolve));
    await server.stop();
    expect(await gone).toBe('io server disconnect');
    live.close();
  });
});

describe('hostile live input against tight limits', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(
      testConfig({ SOCKET_MAX_MESSAGE_BYTES: String(4 * 1_048_576), UPDATE_DECODE_TIMEOUT_MS: '50' }),
      createLogger({ level: 'silent', nodeId: 't' }),
    );
  });
  afterAll(() => server.stop());

  async function twoEditors() {
    const tenant = uniqueName('tenant');
    const admin = api(server.url, await tokenFor(tenant, 'admin'));
    const id = (await admin.post<{ session: { id: string } }>('/onboarding/sessions')).body.session.id;
    const editors = await Promise.all(
      ['bystander', 'hostile'].map(async (user) => {
        const live = new LiveClient(server.url, await tokenFor(tenant, 'admin', user));
        await live.connect();
        await live.join(id);
        return live;
      }),
    );
    return { id, bystander: editors[0]!, hostile: editors[1]! };
  }

  it('refuses a pathological update that overruns the decoding budget, closes its connection, and keeps others editing', async () => {
    const { id, bystander, hostile } = await twoEditors();
    // Well-formed but costly: 100,000 entries (~200 ms to decode and apply here) against a 50 ms budget.
    const doc = new Y.Doc();
    doc.transact(() => {
      for (let i = 0; i < 100_000; i += 1) doc.getMap<unknown>('data_import').set(`k${i}`, i);
    });
    const closed = new Promise<string>((resolve) => hostile.socket.on('disconnect', resolve));
    const reply = (await hostile.socket.emitWithAck('sync', id, frame(messageYjsUpdate, Y.encodeStateAsUpdate(doc)))) as Reply;
    expect(reply.error).toMatchObject({ code: 'VALIDATION_FAILED', message: expect.stringMatching(/took more than 50 ms/) });
    expect(await closed).toBe('io server disconnect');
    bystander.doc.getMap<unknown>('welcome').set('teamSize', 2);
    await bystander.settled();
    expect(bystander.acks.at(-1)).toMatchObject({ ok: true });
    bystander.close();
    hostile.close();
  });

  it('closes a connection that sends an oversized frame, and keeps others editing', async () => {
    const { id, bystander, hostile } = await twoEditors();
    const closed = new Promise<string>((resolve) => hostile.socket.on('disconnect', resolve));
    hostile.socket.emit('sync', id, new Uint8Array(5 * 1_048_576));
    expect(await closed).toBe('transport close');
    bystander.doc.getMap<unknown>('welcome').set('teamSize', 3);
    await bystander.settled();
    expect(bystander.acks.at(-1)).toMatchObject({ ok: true });
    bystander.close();
    hostile.close();
  });
});

describe.each(['sqlite', 'postgresql'] as const)('live editing on %s', (dialect) => {
  let server: RunningServer;
  let database: TestDatabase | undefined;
  const clients: LiveClient[] = [];

  beforeAll(async () => {
    if (dialect === 'postgresql') database = await createTestDatabase();
    server = await startServer(testConfig(database ? { DATABASE_URL: database.url } : {}), createLogger({ level: 'silent', nodeId: 't' }));
  });
  afterAll(async () => {
    clients.forEach((client) => client.close());
    await server.stop();
    await database?.drop();
  });

  async function session() {
    const tenant = uniqueName('tenant');
    const admin = api(server.url, await tokenFor(tenant, 'admin'));
    const { body } = await admin.post<{ session: { id: string } }>('/onboarding/sessions');
    return { tenant, admin, id: body.session.id };
  }

  async function client(tenant: string, role: 'owner' | 'admin' | 'agent' | 'viewer' | 'ops', sessionId: string, user = `${role}-${clients.length}`) {
    const live = new LiveClient(server.url, await tokenFor(tenant, role, user));
    clients.push(live);
    await live.connect();
    const joined = await live.join(sessionId);
    return { live, joined };
  }

  const logRows = async (id: string) =>
    Number((await server.db.em().getConnection().execute<{ n: number | string }[]>('select count(*) as n from session_update where session_id = ?', [id]))[0]!.n);

  it('lets several editors type and set fields at once; all converge on the committed state', async () => {
    const { tenant, admin, id } = await session();
    const editors = await Promise.all([0, 1, 2].map(async (i) => (await client(tenant, 'admin', id, `editor-${i}`)).live));
    // The first editor creates the long-text field; once everyone has it, all type into it at once
    // and each sets a field of its own.
    editors[0]!.doc.getMap<unknown>('knowledge_base').set('introduction', new Y.Text('Intro: '));
    await editors[0]!.settled();
    await until(() => editors.every((e) => e.doc.getMap('knowledge_base').get('introduction') instanceof Y.Text), 'the text to reach everyone');
    editors.forEach((editor, i) => editor.doc.getMap<unknown>('data_import').set('fieldMapping', { [`c${i}`]: `f${i}` }));
    editors[0]!.doc.getMap<unknown>('organization_setup').set('name', 'Acme');
    for (let round = 0; round < 5; round += 1) {
      editors.forEach((editor, i) => {
        const intro = editor.doc.getMap<unknown>('knowledge_base').get('introduction') as Y.Text;
        intro.insert(intro.length, `[${i}:${round}]`);
      });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await Promise.all(editors.map((editor) => editor.settled()));
    expect(editors.flatMap((e) => e.acks).every((ack) => ack.ok && typeof ack.updateId === 'number')).toBe(true);

    const server_ = new Y.Doc();
    Y.applyUpdate(server_, await server.sessions.encodeState(tenant, id));
    await until(() => editors.every((e) => JSON.stringify(documentData(e.doc)) === JSON.stringify(documentData(server_))), 'convergence');
    expect(documentData(server_).organization_setup).toEqual({ name: 'Acme' });
    const intro = (server_.getMap('knowledge_base').get('introduction') as Y.Text).toString();
    for (let i = 0; i < 3; i += 1) for (let round = 0; round < 5; round += 1) expect(intro).toContain(`[${i}:${round}]`);
    // REST reads the same document.
    const rest = await admin.get<{ data: { knowledge_base: { introduction: string } } }>(`/onboarding/sessions/${id}`);
    expect(rest.body.data.knowledge_base.introduction).toBe(intro);
  });

  it('acknowledges an update only once it is in the update log', async () => {
    const { tenant, id } = await session();
    const { live } = await client(tenant, 'owner', id);
    const before = await logRows(id);
    live.doc.getMap<unknown>('welcome').set('teamSize', 7);
    await live.settled();
    const [ack] = live.acks;
    expect(ack).toMatchObject({ ok: true });
    expect(await logRows(id)).toBe(before + 1);
    const last = await server.db.em().getConnection().execute<{ id: number | string }[]>('select max(id) as id from session_update where session_id = ?', [id]);
    expect(Number(last[0]!.id)).toBe(ack!.updateId);
    // The batch commit shows on /metrics.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(Number(/^session_commit_batch_updates_count\{[^}]*\} (\d+)$/m.exec(metrics)?.[1] ?? 0)).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/^session_commit_seconds_count\{[^}]*outcome="committed"[^}]*\} [1-9]/m);
  });

  it('sends REST edits and other editors’ committed edits to watchers, and refuses their writes', async () => {
    const { tenant, admin, id } = await session();
    const { live: agent, joined } = await client(tenant, 'agent', id);
    expect(joined).toMatchObject({ ok: true, readOnly: true });
    const { live: editor } = await client(tenant, 'admin', id);

    editor.doc.getMap<unknown>('welcome').set('teamSize', 9);
    await admin.patch(`/onboarding/sessions/${id}/steps/organization_setup`, { name: 'Via REST' });
    await until(() => agent.doc.getMap('welcome').get('teamSize') === 9 && agent.doc.getMap('organization_setup').get('name') === 'Via REST', 'the watcher to see both edits');

    const before = await logRows(id);
    agent.doc.getMap<unknown>('welcome').set('teamSize', 1);
    await agent.settled();
    expect(agent.acks.at(-1)).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(agent.refusals.at(-1)).toMatchObject({ code: 'FORBIDDEN' });
    expect(await logRows(id)).toBe(before);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(editor.doc.getMap('welcome').get('teamSize')).toBe(9);
  });

  it('tells everyone in the session who is on which step, from verified identities', async () => {
    const { tenant, id } = await session();
    const { live: alice } = await client(tenant, 'admin', id, 'alice');
    const { live: bob } = await client(tenant, 'agent', id, 'bob');
    const summaries: unknown[] = [];
    bob.socket.on('presence', (_sessionId: string, summary: unknown) => summaries.push(summary));
    expect(await alice.socket.emitWithAck('presence', id, { stepId: 'organization_setup', field: 'branding', userId: 'mallory' })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION_FAILED' },
    });
    expect(await alice.socket.emitWithAck('presence', id, { stepId: 'organization_setup', field: 'branding' })).toEqual({ ok: true });
    await until(() => summaries.length > 0, 'a presence summary');
    expect(summaries.at(-1)).toEqual([
      { userId: 'alice', role: 'admin', connections: 1, positions: [{ stepId: 'organization_setup', field: 'branding' }] },
      { userId: 'bob', role: 'agent', connections: 1, positions: [] },
    ]);
    alice.socket.disconnect();
    await until(() => JSON.stringify(summaries.at(-1)) === JSON.stringify([{ userId: 'bob', role: 'agent', connections: 1, positions: [] }]), 'alice to leave');
  });

  it('does not grow the log when an update is sent twice', async () => {
    const { tenant, id } = await session();
    const { live } = await client(tenant, 'admin', id);
    const update = (() => {
      const scratch = new Y.Doc();
      scratch.getMap<unknown>('welcome').set('teamSize', 5);
      return Y.encodeStateAsUpdate(scratch);
    })();
    const first = (await live.socket.emitWithAck('sync', id, frame(messageYjsUpdate, update))) as Reply;
    const rows = await logRows(id);
    const second = (await live.socket.emitWithAck('sync', id, frame(messageYjsUpdate, update))) as Reply;
    expect(first.ok && second.ok).toBe(true);
    expect(second.updateId).toBe(first.updateId);
    expect(await logRows(id)).toBe(rows);
  });

  it('refuses invalid step data and foreign types, leaving the document and other editors untouched', async () => {
    const { tenant, id } = await session();
    const { live: bystander } = await client(tenant, 'admin', id);
    const { live: hostile } = await client(tenant, 'admin', id);
    bystander.doc.getMap<unknown>('welcome').set('teamSize', 3);
    await bystander.settled();
    const state = await server.sessions.encodeState(tenant, id);

    const send = async (update: Uint8Array) => (await hostile.socket.emitWithAck('sync', id, frame(messageYjsUpdate, update))) as Reply;
    const crafted = (edit: (doc: Y.Doc) => void) => {
      const doc = new Y.Doc();
      edit(doc);
      return Y.encodeStateAsUpdate(doc);
    };
    expect((await send(crafted((d) => d.getMap('organization_setup').set('branding', 'not an object')))).error?.code).toBe('CONFIGURATION_VALIDATION_FAILED');
    expect((await send(crafted((d) => d.getMap('channel_configuration').set('email', { password: 'hunter2hunter2' })))).error?.code).toBe(
      'CONFIGURATION_VALIDATION_FAILED',
    );
    expect((await send(crafted((d) => d.getMap('evil').set('x', 1)))).error?.code).toBe('CONFIGURATION_VALIDATION_FAILED');
    expect(hostile.socket.connected).toBe(true); // invalid content is refused, the connection stays

    expect(Buffer.from(await server.sessions.encodeState(tenant, id)).equals(Buffer.from(state))).toBe(true);
    bystander.doc.getMap<unknown>('welcome').set('teamSize', 4);
    await bystander.settled();
    expect(bystander.acks.at(-1)).toMatchObject({ ok: true });
  });

  it.each([
    ['an undecodable Yjs update', frame(messageYjsUpdate, Uint8Array.of(1, 2, 3, 250, 251, 252))],
    ['a frame that is not a sync message', Uint8Array.of(255, 255, 255)],
    ['a text frame', 'not binary'],
  ])('answers %s with an error and closes that connection only', async (_name, bad) => {
    const { tenant, id } = await session();
    const { live: bystander } = await client(tenant, 'admin', id);
    const { live: hostile } = await client(tenant, 'admin', id);
    const closed = new Promise<string>((resolve) => hostile.socket.on('disconnect', resolve));
    const reply = (await hostile.socket.emitWithAck('sync', id, bad)) as Reply;
    expect(reply.error?.code).toBe('VALIDATION_FAILED');
    expect(await closed).toBe('io server disconnect');
    bystander.doc.getMap<unknown>('welcome').set('teamSize', 4);
    await bystander.settled();
    expect(bystander.acks.at(-1)).toMatchObject({ ok: true });
  });

  it('refuses edits beyond the per-connection rate, without closing the connection', async () => {
    const { tenant, id } = await session();
    const { live } = await client(tenant, 'admin', id);
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, i) => {
        const doc = new Y.Doc();
        doc.getMap<unknown>('data_import').set('fieldMapping', { [`c${i}`]: 'x' });
        return live.socket.emitWithAck('sync', id, frame(messageYjsUpdate, Y.encodeStateAsUpdate(doc))) as Promise<Reply>;
      }),
    );
    const limited = replies.filter((r) => r.error?.code === 'RATE_LIMITED').length;
    expect(limited).toBeGreaterThan(0);
    expect(replies.filter((r) => r.ok).length).toBeGreaterThan(0);
    expect(live.socket.connected).toBe(true);
  });

  it('refuses an update that depends on one the server lacks, and takes both in order', async () => {
    const { tenant, id } = await session();
    const { live } = await client(tenant, 'admin', id);
    const scratch = new Y.Doc();
    const updates: Uint8Array[] = [];
    scratch.on('update', (update: Uint8Array) => updates.push(update));
    scratch.getMap<unknown>('welcome').set('teamSize', 1);
    scratch.getMap<unknown>('welcome').set('goals', ['faster_responses']);
    const send = async (update: Uint8Array) => (await live.socket.emitWithAck('sync', id, frame(messageYjsUpdate, update))) as Reply;
    expect((await send(updates[1]!)).error?.code).toBe('SYNC_REQUIRED');
    expect(await logRows(id)).toBe(0);
    expect((await send(updates[0]!)).ok).toBe(true);
    expect((await send(updates[1]!)).ok).toBe(true);
    const state = new Y.Doc();
    Y.applyUpdate(state, await server.sessions.encodeState(tenant, id));
    expect(state.getMap('welcome').toJSON()).toEqual({ teamSize: 1, goals: ['faster_responses'] });
  });

  it('refuses another tenant, the ops role and an expired token', async () => {
    const { id } = await session();
    const outsider = await client(uniqueName('other'), 'admin', id);
    expect(outsider.joined).toMatchObject({ ok: false, error: { code: 'ONBOARDING_SESSION_NOT_FOUND' } });
    const { tenant } = await session();
    const ops = await client(tenant, 'ops', id);
    expect(ops.joined).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    const expired = new LiveClient(server.url, await tokenFor(tenant, 'admin', 'late', -60));
    clients.push(expired);
    await expect(expired.connect()).rejects.toMatchObject({ data: { code: 'AUTH_TOKEN_EXPIRED' } });
  });
});
