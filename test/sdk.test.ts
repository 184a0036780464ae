// The client SDK against a real server: concurrent editors, offline edits, reconnect and resend.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { WebSocket } from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { documentData } from '../actors/session/document.ts';
import { OnboardingApiError, OnboardingClient, SessionProvider } from '../client/sdk/index.ts';
import { freePort } from '../scripts/services/free-port.ts';
import { createLogger } from '../server/logger.ts';
import { startServer, type RunningServer } from '../server/server.ts';
import { tokenFor } from './support/api.ts';
import { testConfig } from './support/config.ts';
import { createTestDatabase, uniqueName, type TestDatabase } from './support/isolation.ts';

const until = async (condition: () => boolean, what: string, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

const json = (doc: Y.Doc) => JSON.stringify(documentData(doc));

describe.each(['sqlite', 'postgresql'] as const)('the client SDK on %s', (dialect) => {
  let database: TestDatabase | undefined;
  let config: ReturnType<typeof testConfig>;
  let server: RunningServer;
  const providers: SessionProvider[] = [];
  const yProviders: WebsocketProvider[] = [];

  beforeAll(async () => {
    if (dialect === 'postgresql') database = await createTestDatabase();
    config = testConfig(database ? { DATABASE_URL: database.url } : {});
    server = await startServer(config, createLogger({ level: 'silent', nodeId: 't' }));
  });
  afterAll(async () => {
    providers.forEach((p) => p.destroy());
    yProviders.forEach((p) => p.destroy());
    await server.stop();
    await database?.drop();
  });

  async function tenantSession() {
    const tenant = uniqueName('tenant');
    const token = await tokenFor(tenant, 'admin', 'owner-of-session');
    const api = new OnboardingClient({ baseUrl: server.url, token });
    const { view, created } = await api.start();
    expect(created).toBe(true);
    return { tenant, api, id: view.session.id };
  }

  async function provider(tenant: string, sessionId: string, user: string) {
    const live = new SessionProvider({ url: server.url, sessionId, token: await tokenFor(tenant, 'admin', user), reconnectDelayMs: 50, reconnectDelayMaxMs: 200 });
    providers.push(live);
    await new Promise<void>((resolve) => live.on('synced', resolve));
    return live;
  }

  /** An unmodified y-websocket WebsocketProvider on the standard endpoint. */
  async function yWebsocketEditor(tenant: string, sessionId: string) {
    const doc = new Y.Doc();
    const provider = new WebsocketProvider(`${server.url.replace('http', 'ws')}/yjs`, sessionId, doc, {
      WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
      params: { token: await tokenFor(tenant, 'admin', 'y-websocket-user') },
      disableBc: true,
    });
    yProviders.push(provider);
    await new Promise<void>((resolve) => provider.once('sync', (synced: boolean) => synced && resolve()));
    return { doc, provider };
  }

  it('manages an integration: connect, list, operate, errors with codes, remove', async () => {
    const api = new OnboardingClient({ baseUrl: server.url, token: await tokenFor(uniqueName('tenant'), 'admin') });
    const connected = await api.connectIntegration('ai', {}, { provider: 'local', model: 'naive-bayes' });
    expect({ kind: connected.kind, status: connected.status, healthy: connected.health?.isHealthy }).toEqual({ kind: 'ai', status: 'connected', healthy: true });
    expect((await api.integrations()).map((integration) => integration.kind)).toEqual(['ai']);
    const analysis = await api.runIntegrationOperation<{ sentiment: { label: string } }>('ai', 'analyze', { text: 'This is great, thank you so much!' });
    expect(analysis.sentiment.label).toBe('positive');
    const refused = await api.runIntegrationOperation('stripe', 'sync-plans', { currency: 'EUR', plans: [] }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OnboardingApiError);
    expect((refused as OnboardingApiError).code).toBe('VALIDATION_FAILED');
    await api.removeIntegration('ai');
    const gone = await api.integration('ai').catch((error: unknown) => error);
    expect({ status: (gone as OnboardingApiError).status, code: (gone as OnboardingApiError).code }).toEqual({ status: 404, code: 'INTEGRATION_NOT_FOUND' });
  });

  const logRows = async (id: string) =>
    Number((await server.db.em().getConnection().execute<{ n: number | string }[]>('select count(*) as n from session_update where session_id = ?', [id]))[0]!.n);

  it('reports API errors with their code, status and field paths', async () => {
    const { api, id } = await tenantSession();
    const error = await api.updateStep(id, 'organization_setup', { branding: { primaryColor: 'blue' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OnboardingApiError);
    expect(error).toMatchObject({ status: 400, code: 'CONFIGURATION_VALIDATION_FAILED' });
    expect((error as OnboardingApiError).details?.issues?.map((i) => i.path)).toContain('branding.primaryColor');
  });

  it('lets five SDK editors, an unmodified y-websocket client and a REST writer edit at once; all converge on the state the database reloads', async () => {
    const { tenant, api, id } = await tenantSession();
    const sdkEditors = await Promise.all([0, 1, 2, 3, 4].map((i) => provider(tenant, id, `editor-${i}`)));
    const yws = await yWebsocketEditor(tenant, id);
    const editors: { doc: Y.Doc }[] = [...sdkEditors, yws];
    editors[0]!.doc.getMap<unknown>('knowledge_base').set('introduction', new Y.Text('Hello: '));
    await until(() => editors.every((e) => e.doc.getMap('knowledge_base').get('introduction') instanceof Y.Text), 'the text to reach everyone');
    for (let round = 0; round < 4; round += 1) {
      editors.forEach((editor, i) => {
        (editor.doc.getMap<unknown>('knowledge_base').get('introduction') as Y.Text).insert(0, `<${i}.${round}>`);
        editor.doc.getMap<unknown>('welcome').set('teamSize', i + 1);
      });
      await api.updateStep(id, 'organization_setup', { name: `Acme round ${round}` });
    }
    await until(() => sdkEditors.every((e) => e.saved), 'every SDK edit to be saved');
    // y-websocket has no acknowledgements: wait until the committed state holds its edits too.
    const markers = Array.from({ length: 24 }, (_, k) => `<${k % 6}.${Math.floor(k / 6)}>`);
    let committed = new Y.Doc();
    const deadline = Date.now() + 10_000;
    for (;;) {
      committed = new Y.Doc();
      Y.applyUpdate(committed, await server.sessions.encodeState(tenant, id));
      const text = String(committed.getMap('knowledge_base').get('introduction') ?? '');
      if (markers.every((m) => text.includes(m)) || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await until(() => editors.every((e) => json(e.doc) === json(committed)), 'convergence');
    const intro = (committed.getMap('knowledge_base').get('introduction') as Y.Text).toString();
    for (let i = 0; i < 6; i += 1) for (let round = 0; round < 4; round += 1) expect(intro.split(`<${i}.${round}>`)).toHaveLength(2);
    expect(documentData(committed).organization_setup).toEqual({ name: 'Acme round 3' });

    // A restarted server reloads exactly this state from the database.
    providers.forEach((p) => p.disconnect());
    yws.provider.destroy();
    await server.stop();
    server = await startServer({ ...config, PORT: 0 }, createLogger({ level: 'silent', nodeId: 't2' }));
    const reloaded = new Y.Doc();
    Y.applyUpdate(reloaded, await server.sessions.encodeState(tenant, id));
    expect(json(reloaded)).toBe(json(committed));
  });

  it('reconnects after the server closed the connection (a node restarting) and saves what was queued', async () => {
    const port = await freePort();
    const restartable = { ...config, PORT: port };
    const { tenant, id } = await tenantSession();
    await server.stop();
    server = await startServer(restartable, createLogger({ level: 'silent', nodeId: 't3' }));
    const editor = await provider(tenant, id, 'steady-admin');
    const disconnected = new Promise<void>((resolve) => editor.on('status', (s) => s === 'disconnected' && resolve()));
    await server.stop();
    await disconnected;
    editor.doc.getMap<unknown>('welcome').set('teamSize', 8); // queued while the node is down
    server = await startServer(restartable, createLogger({ level: 'silent', nodeId: 't4' }));
    await until(() => editor.synced && editor.saved, 'the provider to reconnect and save');
    const state = new Y.Doc();
    Y.applyUpdate(state, await server.sessions.encodeState(tenant, id));
    expect(documentData(state).welcome).toEqual({ teamSize: 8 });
  });

  it('queues edits while offline and saves them after reconnecting', async () => {
    const { tenant, id } = await tenantSession();
    const editor = await provider(tenant, id, 'travelling-admin');
    editor.disconnect();
    editor.doc.getMap<unknown>('welcome').set('teamSize', 42);
    editor.doc.getMap<unknown>('data_import').set('fieldMapping', { email: 'contact.email' });
    expect(editor.saved).toBe(false);
    expect(await logRows(id)).toBe(0);
    const saved = new Promise<void>((resolve) => editor.on('saved', resolve));
    editor.connect();
    await saved;
    const state = new Y.Doc();
    Y.applyUpdate(state, await server.sessions.encodeState(tenant, id));
    expect(documentData(state).welcome).toEqual({ teamSize: 42 });
    expect(documentData(state).data_import).toEqual({ fieldMapping: { email: 'contact.email' } });
  });

  it('sends what the server lacks when an edit builds on it (SYNC_REQUIRED), instead of dropping the edit', async () => {
    const { tenant, id } = await tenantSession();
    // A document holding content the server never received (e.g. restored from a saved copy): the
    // provider does not know it is unsent, so the first edit that builds on it is refused as
    // SYNC_REQUIRED, and the provider then sends everything the server lacks.
    const doc = new Y.Doc();
    doc.getMap<unknown>('welcome').set('goals', ['faster_responses']);
    const editor = new SessionProvider({ url: server.url, sessionId: id, doc, token: await tokenFor(tenant, 'admin', 'restorer'), reconnectDelayMs: 50 });
    providers.push(editor);
    const refusals: string[] = [];
    editor.on('refused', (error) => refusals.push(error.code));
    await new Promise<void>((resolve) => editor.on('synced', resolve));
    const saved = new Promise<void>((resolve) => editor.on('saved', resolve));
    doc.getMap<unknown>('welcome').delete('goals'); // deletes an item the server never saw
    doc.getMap<unknown>('welcome').set('teamSize', 3);
    await saved;
    expect(refusals).toEqual([]);
    const state = new Y.Doc();
    Y.applyUpdate(state, await server.sessions.encodeState(tenant, id));
    expect(documentData(state).welcome).toEqual({ teamSize: 3 });
  });

  it('resends after a connection drops mid-edit without duplicating content or the log', async () => {
    const { tenant, id } = await tenantSession();
    const editor = await provider(tenant, id, 'flaky-admin');
    const statuses: string[] = [];
    editor.on('status', (status) => statuses.push(status));
    let syncs = 0;
    editor.on('synced', () => (syncs += 1));
    const text = new Y.Text();
    editor.doc.getMap<unknown>('knowledge_base').set('introduction', text);
    for (let i = 0; i < 20; i += 1) {
      text.insert(text.length, `${i},`);
      // Drop the transport while acknowledgements are outstanding, as a network failure would;
      // socket.io-client reconnects by itself.
      if (i === 10) editor.socket.io.engine.close();
    }
    await until(() => editor.saved && syncs === 1, 'the edits to be saved after reconnecting');
    expect(statuses).toEqual(['disconnected', 'connected']);
    const state = new Y.Doc();
    Y.applyUpdate(state, await server.sessions.encodeState(tenant, id));
    const expected = Array.from({ length: 20 }, (_, i) => `${i},`).join('');
    expect((state.getMap('knowledge_base').get('introduction') as Y.Text).toString()).toBe(expected);
    expect(json(editor.doc)).toBe(json(state));
    // 21 local updates (the text and 20 inserts) at most: resent updates the server had add nothing.
    expect(await logRows(id)).toBeLessThanOrEqual(21);
  });
});

