// The standard y-websocket endpoint (/yjs/<sessionId>): an unmodified y-websocket WebsocketProvider
// joins a session next to Socket.IO editors and REST, on PostgreSQL and on the embedded SQLite.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import * as encoding from 'lib0/encoding';
import { WebSocket } from 'ws';
import { messageYjsUpdate } from 'y-protocols/sync';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { documentData } from '../actors/session/document.ts';
import { createLogger } from '../server/logger.ts';
import { attachYjsWebSocket } from '../server/realtime/yjs-websocket.ts';
import { startServer, type RunningServer } from '../server/server.ts';
import type { SessionView } from '../actors/session/session-actor.ts';
import type { Role } from '../shared/auth.ts';
import { api, tokenFor } from './support/api.ts';
import { testConfig } from './support/config.ts';
import { createTestDatabase, uniqueName, type TestDatabase } from './support/isolation.ts';
import { LiveClient } from './support/live-client.ts';

const until = async (condition: () => boolean | Promise<boolean>, what: string, ms = 5_000) => {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A y-websocket message: type 0 (sync) with a y-protocols sync message, or any raw prefix. */
function syncMessage(syncType: number, payload: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, 0);
  encoding.writeVarUint(encoder, syncType);
  encoding.writeVarUint8Array(encoder, payload);
  return encoding.toUint8Array(encoder);
}

function crafted(edit: (doc: Y.Doc) => void): Uint8Array {
  const doc = new Y.Doc();
  edit(doc);
  const update = Y.encodeStateAsUpdate(doc);
  doc.destroy();
  return update;
}

describe.each(['sqlite', 'postgresql'] as const)('y-websocket endpoint on %s', (dialect) => {
  let server: RunningServer;
  let database: TestDatabase | undefined;
  const providers: WebsocketProvider[] = [];
  const sockets: WebSocket[] = [];
  const clients: LiveClient[] = [];

  beforeAll(async () => {
    if (dialect === 'postgresql') database = await createTestDatabase();
    server = await startServer(testConfig(database ? { DATABASE_URL: database.url } : {}), createLogger({ level: 'silent', nodeId: 't' }));
  });
  afterAll(async () => {
    for (const provider of providers) {
      provider.destroy();
      provider.doc.destroy(); // also destroys the provider's Awareness (and its interval)
    }
    sockets.forEach((ws) => ws.terminate());
    clients.forEach((client) => client.close());
    await server.stop();
    await database?.drop();
  });

  const yjsUrl = () => `ws://127.0.0.1:${server.port}/yjs`;

  async function session() {
    const tenant = uniqueName('tenant');
    const admin = api(server.url, await tokenFor(tenant, 'admin'));
    const { body } = await admin.post<{ session: { id: string } }>('/onboarding/sessions');
    return { tenant, admin, id: body.session.id };
  }

  /** An unmodified WebsocketProvider, synced. BroadcastChannel is off: all providers share one process. */
  async function provider(tenant: string, role: Role, sessionId: string, user = `${role}-${providers.length}`) {
    const doc = new Y.Doc();
    const created = new WebsocketProvider(yjsUrl(), sessionId, doc, {
      WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
      params: { token: await tokenFor(tenant, role, user) },
      disableBc: true,
    });
    providers.push(created);
    await new Promise<void>((resolve) => {
      if (created.synced) resolve();
      else created.once('sync', (synced: boolean) => synced && resolve());
    });
    return { doc, provider: created };
  }

  async function liveClient(tenant: string, role: Role, sessionId: string) {
    const live = new LiveClient(server.url, await tokenFor(tenant, role, `${role}-live-${clients.length}`));
    clients.push(live);
    await live.connect();
    expect(await live.join(sessionId)).toMatchObject({ ok: true });
    return live;
  }

  /** A raw `ws` client: resolves with the HTTP status of a refused upgrade, or the open socket. */
  function raw(path: string, options: { token?: string; protocols?: string[] } = {}): Promise<{ status: number; ws?: WebSocket }> {
    const query = options.token !== undefined ? `?token=${encodeURIComponent(options.token)}` : '';
    const ws = new WebSocket(`${yjsUrl()}${path}${query}`, options.protocols);
    sockets.push(ws);
    return new Promise((resolve, reject) => {
      ws.once('unexpected-response', (request, response) => {
        resolve({ status: response.statusCode ?? 0 });
        response.resume();
        request.destroy();
      });
      ws.once('upgrade', (response) => {
        ws.binaryType = 'nodebuffer';
        ws.once('open', () => resolve({ status: response.statusCode ?? 0, ws }));
      });
      ws.on('error', (error) => reject(error));
    });
  }

  const closeOf = (ws: WebSocket) =>
    new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));

  const serverDoc = async (tenant: string, id: string) => {
    const doc = new Y.Doc();
    Y.applyUpdate(doc, await server.sessions.encodeState(tenant, id));
    return doc;
  };

  const logRows = async (id: string) =>
    Number((await server.db.em().getConnection().execute<{ n: number | string }[]>('select count(*) as n from session_update where session_id = ?', [id]))[0]!.n);

  it('syncs a provider with REST, Socket.IO and other providers; everyone converges on the committed state', async () => {
    const { tenant, admin, id } = await session();
    await admin.patch(`/onboarding/sessions/${id}/steps/organization_setup`, { name: 'Before' });
    const { doc } = await provider(tenant, 'owner', id);
    expect(doc.getMap('organization_setup').get('name')).toBe('Before'); // the initial sync (step 2)
    const { doc: other, provider: otherProvider } = await provider(tenant, 'admin', id);
    const live = await liveClient(tenant, 'admin', id);

    // A REST edit and a Socket.IO edit reach the provider.
    await admin.patch(`/onboarding/sessions/${id}/steps/welcome`, { teamSize: 12 });
    live.doc.getMap<unknown>('organization_setup').set('industry', 'saas');
    await live.settled();
    expect(live.acks.at(-1)).toMatchObject({ ok: true });
    await until(() => doc.getMap('welcome').get('teamSize') === 12 && doc.getMap('organization_setup').get('industry') === 'saas', 'REST and Socket.IO edits');

    // The provider's own edits (a Y.Text and a map field) reach Socket.IO, the other provider and the server.
    doc.getMap<unknown>('knowledge_base').set('introduction', new Y.Text('Hello from y-websocket'));
    doc.getMap<unknown>('data_import').set('fieldMapping', { email: 'contact_email' });
    const textOf = (d: Y.Doc) => d.getMap('knowledge_base').get('introduction');
    await until(() => textOf(live.doc) instanceof Y.Text && textOf(other) instanceof Y.Text, 'the text to reach Socket.IO and the other provider');
    // All three type into the same text at once.
    (textOf(live.doc) as Y.Text).insert(0, '[io]');
    (textOf(doc) as Y.Text).insert(5, '[yws]');
    (textOf(other) as Y.Text).insert(0, '[yws2]');
    await live.settled();

    let server_ = await serverDoc(tenant, id);
    await until(async () => {
      server_.destroy();
      server_ = await serverDoc(tenant, id);
      const expected = documentData(server_);
      return [doc, other, live.doc].every((d) => isDeepStrictEqual(documentData(d), expected));
    }, 'convergence');
    const intro = (server_.getMap('knowledge_base').get('introduction') as Y.Text).toString();
    expect(intro).toContain('[io]');
    expect(intro).toContain('[yws]');
    expect(intro).toContain('[yws2]');
    expect(intro).toContain('Hello from y-websocket'.slice(5));
    expect(documentData(server_).data_import).toMatchObject({ fieldMapping: { email: 'contact_email' } });
    expect(documentData(server_).welcome).toMatchObject({ teamSize: 12 });
    const rest = await admin.get<{ data: { knowledge_base: { introduction: string } } }>(`/onboarding/sessions/${id}`);
    expect(rest.body.data.knowledge_base.introduction).toBe(intro);
    server_.destroy();

    // Awareness is relayed between the providers of the session.
    otherProvider.awareness.setLocalStateField('user', { name: 'Other' });
    const providerOf = providers.find((p) => p.doc === doc)!;
    await until(() => {
      const state = providerOf.awareness.getStates().get(other.clientID) as { user?: { name: string } } | undefined;
      return state?.user?.name === 'Other';
    }, 'the awareness state to be relayed');
  });

  it('drops an agent’s edits (not stored, not seen by others) but keeps its read-only view live', async () => {
    const { tenant, admin, id } = await session();
    const { doc: editor } = await provider(tenant, 'admin', id);
    const { doc: agent, provider: agentProvider } = await provider(tenant, 'agent', id);
    const live = await liveClient(tenant, 'viewer', id);
    editor.getMap<unknown>('welcome').set('teamSize', 9);
    await until(() => agent.getMap('welcome').get('teamSize') === 9 && live.doc.getMap('welcome').get('teamSize') === 9, 'the editor’s edit');
    const rows = await logRows(id);

    agent.getMap<unknown>('welcome').set('teamSize', 1);
    agent.getMap<unknown>('organization_setup').set('name', 'Agent was here');
    await sleep(300);
    expect(await logRows(id)).toBe(rows);
    const state = await serverDoc(tenant, id);
    expect(state.getMap('welcome').get('teamSize')).toBe(9);
    expect(state.getMap('organization_setup').get('name')).toBeUndefined();
    state.destroy();
    expect(editor.getMap('welcome').get('teamSize')).toBe(9);
    expect(editor.getMap('organization_setup').get('name')).toBeUndefined();
    expect(live.doc.getMap('organization_setup').get('name')).toBeUndefined();
    // The connection stays open and keeps receiving committed edits.
    expect(agentProvider.wsconnected).toBe(true);
    await admin.patch(`/onboarding/sessions/${id}/steps/data_import`, { fieldMapping: { phone: 'mobile' } });
    const mapping = (d: Y.Doc) => JSON.stringify(d.getMap('data_import').toJSON());
    await until(() => mapping(agent).includes('mobile') && mapping(editor).includes('mobile'), 'the REST edit');
  });

  it('answers refused upgrades with plain HTTP statuses before any WebSocket exists', async () => {
    const { tenant, id } = await session();
    expect((await raw(`/${id}`, { token: await tokenFor(uniqueName('other'), 'admin') })).status).toBe(404);
    expect((await raw(`/${id}`, { token: await tokenFor(tenant, 'admin', 'late', -60) })).status).toBe(401);
    expect((await raw(`/${id}`, { token: 'not-a-jwt' })).status).toBe(401);
    expect((await raw(`/${id}`)).status).toBe(401);
    expect((await raw(`/${id}`, { token: await tokenFor(tenant, 'ops') })).status).toBe(403);
    expect((await raw('/not-a-session-id', { token: await tokenFor(tenant, 'admin') })).status).toBe(404);
    expect((await raw(`/${crypto.randomUUID()}`, { token: await tokenFor(tenant, 'admin') })).status).toBe(404);

    // The token in a subprotocol: another offered protocol is chosen, or the token's is echoed.
    const token = await tokenFor(tenant, 'viewer');
    const both = await raw(`/${id}`, { protocols: ['y-websocket', `bearer.${token}`] });
    expect(both.status).toBe(101);
    expect(both.ws!.protocol).toBe('y-websocket');
    const only = await raw(`/${id}`, { protocols: [`bearer.${token}`] });
    expect(only.status).toBe(101);
    expect(only.ws!.protocol).toBe(`bearer.${token}`);
    both.ws!.close();
    only.ws!.close();
    // Socket.IO still shares the HTTP server.
    await liveClient(tenant, 'viewer', id);
  });

  it('closes a connection that sends garbage or refused content, while another keeps editing', async () => {
    const { tenant, id } = await session();
    const { doc: bystander } = await provider(tenant, 'admin', id);
    bystander.getMap<unknown>('welcome').set('teamSize', 3);
    const teamSize = async () => {
      const doc = await serverDoc(tenant, id);
      const value = doc.getMap('welcome').get('teamSize');
      doc.destroy();
      return value;
    };
    await until(async () => (await teamSize()) === 3, 'the first edit');
    const token = await tokenFor(tenant, 'admin', 'hostile');

    const cases: [string, Uint8Array | string, number, string?][] = [
      ['a text frame', 'hello', 1003],
      ['an unknown message type', Uint8Array.of(7, 1, 2), 1003],
      ['a truncated message', Uint8Array.of(0, 2, 200, 1), 1007],
      ['an update that does not decode', syncMessage(messageYjsUpdate, Uint8Array.of(1, 2, 3, 250, 251, 252)), 1007],
      ['bad awareness JSON', Uint8Array.of(1, 5, 1, 7, 1, 1, 123), 1007],
      ['invalid step data', syncMessage(messageYjsUpdate, crafted((d) => d.getMap('organization_setup').set('branding', 'not an object'))), 1008, 'CONFIGURATION_VALIDATION_FAILED'],
      ['a foreign top-level type', syncMessage(messageYjsUpdate, crafted((d) => d.getMap('evil').set('x', 1))), 1008, 'CONFIGURATION_VALIDATION_FAILED'],
    ];
    for (const [name, bad, code, reason] of cases) {
      const { ws } = await raw(`/${id}`, { token });
      const closed = closeOf(ws!);
      ws!.send(bad);
      const close = await closed;
      expect({ name, code: close.code }).toEqual({ name, code });
      if (reason !== undefined) expect(close.reason).toContain(reason);
      // The bystander is unaffected and keeps editing.
      bystander.getMap<unknown>('welcome').set('teamSize', bystander.getMap<number>('welcome').get('teamSize')! + 1);
    }
    await until(async () => (await teamSize()) === 3 + cases.length, 'the bystander’s edits');
    const after = await serverDoc(tenant, id);
    expect(after.share.has('evil')).toBe(false);
    expect(after.getMap('organization_setup').get('branding')).toBeUndefined();
    after.destroy();
  });

  it('closes its connections with 1001 when the server stops', async () => {
    const { tenant, id } = await session();
    const { ws } = await raw(`/${id}`, { token: await tokenFor(tenant, 'admin') });
    const closed = closeOf(ws!);
    const { provider: open } = await provider(tenant, 'viewer', id);
    const providerClosed = new Promise<number | undefined>((resolve) =>
      open.once('connection-close', (event: { code: number } | null) => resolve(event?.code)),
    );
    // Socket.IO clients of /sessions are closed first: stop() disconnects only the main namespace's
    // sockets, so a /sessions client would hold the HTTP server open (not this endpoint's concern).
    clients.forEach((client) => client.close());
    const started = Date.now();
    await server.stop();
    expect((await closed).code).toBe(1001);
    expect(await providerClosed).toBe(1001);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

// Keepalive needs a short ping period, so this part runs the endpoint alone on a bare HTTP server,
// with a stand-in for the session service (only the connection's liveness is under test).
describe('y-websocket keepalive', () => {
  it('terminates a connection that stops answering pings and keeps the others', async () => {
    const httpServer = http.createServer();
    const empty = new Y.Doc();
    const endpoint = attachYjsWebSocket(httpServer, {
      sessions: {
        get: async () => ({}) as SessionView,
        syncState: async () => ({ missing: Y.encodeStateAsUpdate(empty), stateVector: Y.encodeStateVector(empty) }),
        applyUpdate: async () => 1,
        onBroadcast: () => () => true,
      },
      verify: async () => ({ userId: 'u', tenantId: 't', role: 'admin' }),
      log: createLogger({ level: 'silent', nodeId: 't' }),
      maxMessageBytes: 1_024,
      pingIntervalMs: 50,
    });
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    const url = `ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}/yjs/${crypto.randomUUID()}?token=x`;
    const dead = new WebSocket(url, { autoPong: false });
    const alive = new WebSocket(url);
    await Promise.all([dead, alive].map((ws) => new Promise((resolve) => ws.once('open', resolve))));
    const deadClosed = new Promise<number>((resolve) => dead.once('close', (code) => resolve(code)));
    let aliveClosed = false;
    alive.once('close', () => (aliveClosed = true));
    expect(await deadClosed).toBe(1006); // terminated: no close frame
    await sleep(200);
    expect(aliveClosed).toBe(false);

    // A message above maxMessageBytes closes the connection with 1009.
    const tooBigClosed = new Promise<number>((resolve) => alive.once('close', (code) => resolve(code)));
    alive.send(new Uint8Array(2_048));
    expect(await tooBigClosed).toBe(1009);

    await endpoint.close();
    await new Promise((resolve) => httpServer.close(resolve));
    empty.destroy();
  });
});
