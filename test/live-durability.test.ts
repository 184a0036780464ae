// No acknowledged live edit is lost: SIGKILL the server while editors stream Yjs updates, restart.
import { afterAll, describe, expect, it } from '@jest/globals';
import { io } from 'socket.io-client';
import { messageYjsUpdate } from 'y-protocols/sync';
import * as Y from 'yjs';
import { api, tokenFor } from './support/api.ts';
import { frame, type Reply } from './support/live-client.ts';
import { serverProcessEnv, startServerProcess } from './support/server-process.ts';

const cleanups: (() => Promise<void>)[] = [];
afterAll(() => Promise.all(cleanups.map((drop) => drop())));

/** Each writer owns one field and sets it to 1, 2, 3...: the stored value shows the last write. */
const WRITERS = [
  { step: 'welcome', field: 'teamSize', value: (n: number) => n, read: (v: unknown) => Number(v) },
  { step: 'organization_setup', field: 'name', value: (n: number) => `Acme ${n}`, read: (v: unknown) => Number(String(v).slice(5)) },
  { step: 'knowledge_base', field: 'introduction', value: (n: number) => `intro ${n}`, read: (v: unknown) => Number(String(v).slice(6)) },
  { step: 'data_import', field: 'fieldMapping', value: (n: number) => ({ counter: String(n) }), read: (v: unknown) => Number((v as { counter: string }).counter) },
] as const;

describe.each(['sqlite', 'postgresql'] as const)('live durability on %s', (dialect) => {
  it('keeps every acknowledged live edit after a SIGKILL during edits', async () => {
    const { env, drop } = await serverProcessEnv(dialect, { SOCKET_UPDATES_PER_SECOND: '10000' });
    cleanups.push(drop);
    const first = startServerProcess(env);
    const url = `http://127.0.0.1:${await first.listening}`;
    const token = await tokenFor('live-durable', 'admin');
    const sessionId = (await api(url, token).post<{ session: { id: string } }>('/onboarding/sessions')).body.session.id;

    const acknowledged = new Map<string, number>();
    let killed = false;
    const writer = async ({ step, field, value }: (typeof WRITERS)[number]) => {
      const socket = io(`${url}/sessions`, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      await socket.emitWithAck('join', sessionId);
      const doc = new Y.Doc();
      let update: Uint8Array = new Uint8Array();
      doc.on('update', (u: Uint8Array) => (update = u));
      for (let n = 1; !killed && n < 100_000; n += 1) {
        doc.getMap<unknown>(step).set(field, value(n));
        try {
          const reply = (await socket.timeout(5_000).emitWithAck('sync', sessionId, frame(messageYjsUpdate, update))) as Reply;
          if (!reply.ok) throw new Error(reply.error?.code);
          if (!killed) acknowledged.set(field, n);
        } catch {
          break; // the server is gone
        }
      }
      socket.close();
    };
    const writers = WRITERS.map(writer);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    killed = true;
    const seen = new Map(acknowledged); // acknowledgements received before the kill
    first.signal('SIGKILL');
    await first.exited;
    await Promise.all(writers);

    const second = startServerProcess(env);
    try {
      const reader = api(`http://127.0.0.1:${await second.listening}`, token);
      const { body } = await reader.get<{ data: Record<string, Record<string, unknown>> }>(`/onboarding/sessions/${sessionId}`);
      const total = [...seen.values()].reduce((a, b) => a + b, 0);
      expect(total).toBeGreaterThan(40);
      for (const { step, field, read } of WRITERS) {
        expect(read(body.data[step]![field])).toBeGreaterThanOrEqual(seen.get(field) ?? 0);
      }
      console.log(`${dialect}: ${total} acknowledged live edits before SIGKILL, all present after restart`);
    } finally {
      second.signal('SIGTERM');
      await second.exited;
    }
  });
});
