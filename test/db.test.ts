// The same entities and migrations on PostgreSQL (real server) and the embedded SQLite.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AuditEntry, entities, OnboardingSession, OutboxEvent, SessionUpdate } from '../server/db/entities.ts';
import { migrations } from '../server/db/migrations/index.ts';
import { migrate, openDatabase, type Database } from '../server/db/orm.ts';
import { tempDir } from './support/config.ts';
import { createTestDatabase, type TestDatabase } from './support/isolation.ts';

describe.each(['postgresql', 'sqlite'] as const)('the schema on %s', (dialect) => {
  let db: Database;
  let pgDatabase: TestDatabase | undefined;
  let applied: string[];

  beforeAll(async () => {
    if (dialect === 'postgresql') pgDatabase = await createTestDatabase();
    db = await openDatabase({ databaseUrl: pgDatabase?.url, dataDir: tempDir() });
    expect(db.dialect).toBe(dialect);
    applied = await migrate(db);
  });
  afterAll(async () => {
    await db.close();
    await pgDatabase?.drop();
  });

  it('applies every migration once, then has nothing left to apply', async () => {
    expect(applied).toEqual(migrations.map((m) => new m(undefined as never, undefined as never).name));
    expect(await migrate(db)).toEqual([]);
  });

  it('has exactly the tables and columns the entities describe', async () => {
    const metas = [...db.orm.getMetadata()].filter((meta) => meta.tableName !== undefined && !meta.embeddable);
    expect(metas).toHaveLength(entities.length);
    for (const meta of metas) {
      const expected = meta.props.flatMap((prop) => prop.fieldNames ?? []).sort();
      const rows =
        dialect === 'postgresql'
          ? await db.em().getConnection().execute<{ name: string }[]>(
              'select column_name as name from information_schema.columns where table_name = ?',
              [meta.tableName],
            )
          : await db.em().getConnection().execute<{ name: string }[]>(`select name from pragma_table_info('${meta.tableName}')`);
      expect(rows.map((r) => r.name).sort()).toEqual(expected);
    }
    if (dialect === 'postgresql') {
      // PostgreSQL's schema comparison is exact (types, indexes, constraints): no diff may remain.
      expect(await db.orm.schema.getUpdateSchemaSQL({ wrap: false })).toBe('');
    }
  });

  it('round-trips a session, its update log bytes, an outbox event and an audit entry', async () => {
    const em = db.em();
    const id = crypto.randomUUID();
    const update = Uint8Array.from([0, 1, 2, 250, 255]);
    em.create(OnboardingSession, { id, tenantId: 'acme', currentStep: 'welcome', steps: { welcome: { status: 'in_progress' } }, createdBy: 'alice', ownerEpoch: 2 ** 40 });
    em.create(SessionUpdate, { sessionId: id, epoch: 2 ** 40, update: Buffer.from(update) });
    em.create(OutboxEvent, { tenantId: 'acme', topic: 'onboarding', type: 'session.started', payload: { sessionId: id, n: [1, 2] } });
    em.create(AuditEntry, { tenantId: 'acme', actorId: 'alice', actorRole: 'admin', action: 'session.start', target: id, after: { status: 'active' } });
    await em.flush();

    const read = db.em();
    const session = await read.findOneOrFail(OnboardingSession, { id, tenantId: 'acme' });
    expect(session).toMatchObject({ status: 'active', currentStep: 'welcome', ownerEpoch: 2 ** 40, completedAt: null });
    const log = await read.find(SessionUpdate, { sessionId: id });
    expect(log).toHaveLength(1);
    expect(Uint8Array.from(log[0]!.update)).toEqual(update);
    const [event] = await read.find(OutboxEvent, { tenantId: 'acme', publishedAt: null });
    expect(event?.payload).toEqual({ sessionId: id, n: [1, 2] });
    const [audit] = await read.find(AuditEntry, { tenantId: 'acme', target: id });
    expect(audit).toMatchObject({ action: 'session.start', after: { status: 'active' }, before: null });
  });

  it('refuses a session status outside the model', async () => {
    const insert = db
      .em()
      .getConnection()
      .execute(
        `insert into onboarding_session (id, tenant_id, status, current_step, steps, created_by, owner_epoch, created_at, updated_at, last_activity_at) values (?, 'acme', 'deleted', 'welcome', '{}', 'bob', 0, ?, ?, ?)`,
        [crypto.randomUUID(), new Date(), new Date(), new Date()],
      );
    await expect(insert).rejects.toThrow(/check constraint|CHECK constraint/i);
  });

  it('allows one live session per tenant, and any number of ended ones', async () => {
    const em = db.em();
    const session = (status: 'active' | 'paused' | 'completed' | 'abandoned') =>
      em.insert(OnboardingSession, { id: crypto.randomUUID(), tenantId: 'solo', status, currentStep: 'welcome', steps: {}, createdBy: 'bob', createdAt: new Date(), updatedAt: new Date(), lastActivityAt: new Date() });
    await session('completed');
    await session('abandoned');
    await session('completed');
    await session('paused');
    await expect(session('active')).rejects.toThrow(/unique|UNIQUE/);
  });
});
