// Opens the database through MikroORM: PostgreSQL when DATABASE_URL is set, else the embedded
// SQLite file (libsql driver: prebuilt binaries, no compiler needed) under DATA_DIR.
import fs from 'node:fs';
import path from 'node:path';
import type { MikroORM as BaseOrm } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { MikroORM as LibSqlOrm } from '@mikro-orm/libsql';
import { MikroORM as PostgresOrm } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { EntityManager } from '@mikro-orm/sql';
import { entities } from './entities.ts';
import { migrations } from './migrations/index.ts';

export type Database = {
  orm: BaseOrm;
  /** A fresh, request-scoped EntityManager (never share one across concurrent work). */
  em(): EntityManager;
  dialect: 'postgresql' | 'sqlite';
  /** The PostgreSQL URL (undefined on SQLite). */
  url: string | undefined;
  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
};

export type DatabaseOptions = {
  /** PostgreSQL URL; when absent the embedded SQLite file `<dataDir>/onboarding.sqlite` is used. */
  databaseUrl?: string | undefined;
  dataDir: string;
  poolMax?: number;
  /**
   * PostgreSQL: the server aborts a transaction whose client went silent this long (a node frozen
   * mid-commit must not hold a session's row lock, and with it the next owner's activation).
   */
  idleInTransactionTimeoutMs?: number;
};

export function sqliteFile(dataDir: string): string {
  return path.join(dataDir, 'onboarding.sqlite');
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const common = {
    entities,
    extensions: [Migrator],
    migrations: { migrationsList: migrations, snapshot: false, silent: true },
    allowGlobalContext: false,
    debug: false,
  };
  let orm: BaseOrm;
  let dialect: Database['dialect'];
  if (options.databaseUrl !== undefined) {
    dialect = 'postgresql';
    orm = await PostgresOrm.init({
      ...common,
      clientUrl: options.databaseUrl,
      pool: { min: 0, max: options.poolMax ?? 10 },
      ...(options.idleInTransactionTimeoutMs !== undefined
        ? { driverOptions: { idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs } }
        : {}),
    });
  } else {
    dialect = 'sqlite';
    fs.mkdirSync(options.dataDir, { recursive: true });
    orm = await LibSqlOrm.init({ ...common, dbName: sqliteFile(options.dataDir) });
    // WAL lets readers proceed during a write; synchronous=full syncs the WAL on every commit, so an
    // acknowledged edit survives a power loss too; busy_timeout makes a second connection wait
    // rather than fail with SQLITE_BUSY.
    const conn = (orm.em as unknown as EntityManager).getConnection();
    await conn.execute('pragma journal_mode = wal');
    await conn.execute('pragma synchronous = full');
    await conn.execute('pragma busy_timeout = 5000');
  }
  const em = () => orm.em.fork() as unknown as EntityManager;
  return {
    orm,
    em,
    dialect,
    url: options.databaseUrl,
    async ping() {
      await em().getConnection().execute('select 1');
    },
    async close() {
      await orm.close(true);
    },
  };
}

/** Any fixed number: the PostgreSQL advisory lock nodes take to migrate one at a time. */
const MIGRATION_LOCK = 7_311_004;

/**
 * Applies every pending migration; returns the names applied. On PostgreSQL several nodes starting
 * together take turns under an advisory lock (held by a connection of its own), so the second one
 * finds nothing left to do instead of racing the first.
 */
export async function migrate(db: Database): Promise<string[]> {
  if (db.url === undefined) return (await db.orm.migrator.up()).map((m) => m.name);
  const lock = new pg.Client({ connectionString: db.url });
  await lock.connect();
  try {
    await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    return (await db.orm.migrator.up()).map((m) => m.name);
  } finally {
    await lock.end();
  }
}
