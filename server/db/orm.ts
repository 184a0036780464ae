// Opens the database through MikroORM: PostgreSQL when DATABASE_URL is set, else the embedded
// SQLite file (libsql driver: prebuilt binaries, no compiler needed) under DATA_DIR.
import fs from 'node:fs';
import path from 'node:path';
import type { MikroORM as BaseOrm } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { MikroORM as LibSqlOrm } from '@mikro-orm/libsql';
import { MikroORM as PostgresOrm } from '@mikro-orm/postgresql';
import type { EntityManager } from '@mikro-orm/sql';
import { entities } from './entities.ts';
import { migrations } from './migrations/index.ts';

export type Database = {
  orm: BaseOrm;
  /** A fresh, request-scoped EntityManager (never share one across concurrent work). */
  em(): EntityManager;
  dialect: 'postgresql' | 'sqlite';
  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
};

export type DatabaseOptions = {
  /** PostgreSQL URL; when absent the embedded SQLite file `<dataDir>/onboarding.sqlite` is used. */
  databaseUrl?: string | undefined;
  dataDir: string;
  poolMax?: number;
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
    async ping() {
      await em().getConnection().execute('select 1');
    },
    async close() {
      await orm.close(true);
    },
  };
}

/** Applies every pending migration; returns the names applied. */
export async function migrate(db: Database): Promise<string[]> {
  const applied = await db.orm.migrator.up();
  return applied.map((m) => m.name);
}
