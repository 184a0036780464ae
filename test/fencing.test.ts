// One writer per session: an activation under an older epoch can never write (DESIGN.md invariant 2).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SessionStore } from '../actors/session/session-store.ts';
import { StaleEpochError } from '../server/db/fenced-writes.ts';
import { migrate, openDatabase, type Database } from '../server/db/orm.ts';
import { initialMachineState } from '../shared/step-machine.ts';
import { tempDir } from './support/config.ts';
import { createTestDatabase, type TestDatabase } from './support/isolation.ts';

describe.each(['postgresql', 'sqlite'] as const)('fencing epochs on %s', (dialect) => {
  let db: Database;
  let pg: TestDatabase | undefined;
  let store: SessionStore;

  beforeAll(async () => {
    if (dialect === 'postgresql') pg = await createTestDatabase();
    db = await openDatabase({ databaseUrl: pg?.url, dataDir: tempDir() });
    await migrate(db);
    store = new SessionStore(db);
  });
  afterAll(async () => {
    await db.close();
    await pg?.drop();
  });

  async function newSession(tenantId: string) {
    const machine = initialMachineState(new Date().toISOString());
    const { record } = await store.createOrGetLive(
      { id: crypto.randomUUID(), tenantId, createdBy: 'u', status: machine.status, currentStep: machine.currentStep, steps: machine.steps },
      {},
    );
    return record;
  }

  const logRows = async (id: string) =>
    Number((await db.em().getConnection().execute<{ n: string | number }[]>('select count(*) as n from session_update where session_id = ?', [id]))[0]!.n);

  it('refuses every write of an owner once a newer epoch claimed the session', async () => {
    const session = await newSession('fenced');
    await store.claim(session.id, 5);
    expect((await store.appendUpdates(session, 5, [Uint8Array.of(1)], {})).ids).toHaveLength(1);
    await store.claim(session.id, 6); // a new owner takes over

    await expect(store.appendUpdates(session, 5, [Uint8Array.of(2)], {})).rejects.toBeInstanceOf(StaleEpochError);
    await expect(store.saveTransition(session, 5, { status: 'paused' }, {})).rejects.toBeInstanceOf(StaleEpochError);
    await expect(store.compact(session, 5, Uint8Array.of(3), 1)).rejects.toBeInstanceOf(StaleEpochError);
    await expect(store.claim(session.id, 4)).rejects.toBeInstanceOf(StaleEpochError);

    expect(await logRows(session.id)).toBe(1);
    expect((await store.find('fenced', session.id))?.status).toBe('active');
    expect((await store.appendUpdates(session, 6, [Uint8Array.of(4)], {})).ids).toHaveLength(1);
    expect(await logRows(session.id)).toBe(2);
  });

  it('returns the log ids of a group commit in order', async () => {
    const session = await newSession('batch');
    await store.claim(session.id, 1);
    const { ids } = await store.appendUpdates(session, 1, [Uint8Array.of(7), Uint8Array.of(8), Uint8Array.of(9)], {});
    expect(ids).toHaveLength(3);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    expect(new Set(ids).size).toBe(3);
    const { updates } = await store.claim(session.id, 1);
    expect(updates.map((u) => [u.id, [...u.update]])).toEqual([
      [ids[0], [7]],
      [ids[1], [8]],
      [ids[2], [9]],
    ]);
  });

  it('writes nothing of a fenced commit: no update, no event, no audit entry', async () => {
    const session = await newSession('fenced-effects');
    await store.claim(session.id, 10);
    await store.claim(session.id, 11);
    const effects = {
      events: [{ topic: 't', type: 'x', payload: {} }],
      audits: [{ actorId: 'u', actorRole: 'admin', action: 'a', target: session.id }],
    };
    await expect(store.appendUpdates(session, 10, [Uint8Array.of(9)], effects)).rejects.toBeInstanceOf(StaleEpochError);
    const count = async (table: string) =>
      Number((await db.em().getConnection().execute<{ n: string | number }[]>(`select count(*) as n from ${table} where tenant_id = ?`, ['fenced-effects']))[0]!.n);
    expect({ updates: await logRows(session.id), events: await count('outbox_event'), audits: await count('audit_entry') }).toEqual({
      updates: 0,
      events: 0,
      audits: 0,
    });
  });

  it('batches the appends of many sessions into one transaction, failing only the stale ones', async () => {
    const sessions = await Promise.all(Array.from({ length: 12 }, (_, i) => newSession(`node-batch-${i}`)));
    await Promise.all(sessions.map((session) => store.claim(session.id, 3)));
    const stale = sessions.filter((_, i) => i % 4 === 0);
    await Promise.all(stale.map((session) => store.claim(session.id, 4))); // a newer owner took these
    const events = (i: number) => ({ events: [{ topic: 't', type: 'x', payload: { i } }], audits: [{ actorId: 'u', actorRole: 'admin', action: 'a', target: `s${i}` }] });
    // Appended in one turn: one batch for all twelve.
    const outcomes = await Promise.allSettled(
      sessions.map((session, i) => store.appendUpdates(session, 3, [Uint8Array.of(i, 1), Uint8Array.of(i, 2)], events(i))),
    );
    const allIds: number[] = [];
    for (const [i, outcome] of outcomes.entries()) {
      const session = sessions[i]!;
      if (stale.includes(session)) {
        expect(outcome.status === 'rejected' && outcome.reason instanceof StaleEpochError).toBe(true);
        expect(await logRows(session.id)).toBe(0);
        continue;
      }
      if (outcome.status !== 'fulfilled') throw new Error(`session ${i} was refused: ${String(outcome.reason)}`);
      const { updates } = await store.claim(session.id, 3);
      expect(updates.map((u) => [u.id, [...u.update]])).toEqual([
        [outcome.value.ids[0], [i, 1]],
        [outcome.value.ids[1], [i, 2]],
      ]);
      allIds.push(...outcome.value.ids);
    }
    expect(new Set(allIds).size).toBe(allIds.length);
    const tenantsWithEvents = await db
      .em()
      .getConnection()
      .execute<{ tenant_id: string }[]>("select tenant_id from outbox_event where tenant_id like 'node-batch-%' and type = 'x' order by tenant_id");
    expect(tenantsWithEvents.map((row) => row.tenant_id).sort()).toEqual(
      sessions.filter((session) => !stale.includes(session)).map((session) => session.tenantId).sort(),
    );
  });

  it('scopes writes to the tenant: a write naming another tenant touches nothing', async () => {
    const session = await newSession('owner-tenant');
    await store.claim(session.id, 1);
    await expect(store.appendUpdates({ id: session.id, tenantId: 'intruder' }, 1, [Uint8Array.of(1)], {})).rejects.toBeInstanceOf(StaleEpochError);
    expect(await logRows(session.id)).toBe(0);
    expect(await store.find('intruder', session.id)).toBeNull();
  });
});
