// The databases under the server: a fresh PostgreSQL database per run, and what PostgreSQL and the
// server's SQLite file run with (fsync, synchronous commit, journal mode), for the reports.
import Database from 'libsql';
import pg from 'pg';

async function withPostgres<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** The server's two storage backends, as the scenarios run and name them. */
export type Backend = 'postgresql' | 'sqlite';
export const BACKENDS: readonly Backend[] = ['postgresql', 'sqlite'];
export const BACKEND_NAMES: Record<Backend, string> = { postgresql: 'PostgreSQL', sqlite: 'SQLite (embedded)' };

/** A fresh, empty database on the benchmark's PostgreSQL; returns its URL. */
export async function freshPostgresDatabase(adminUrl: string, name: string): Promise<string> {
  await withPostgres(adminUrl, async (client) => {
    await client.query(`drop database if exists ${name}`);
    await client.query(`create database ${name}`);
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * The database of one run on `backend`: a fresh PostgreSQL database named `name` (its settings
 * recorded in `databases` on the first run), or undefined for SQLite (the server's own file).
 */
export async function runDatabase(
  adminUrl: string,
  backend: Backend,
  name: string,
  run: number,
  databases: Record<Backend, Record<string, string>>,
): Promise<string | undefined> {
  if (backend !== 'postgresql') return undefined;
  const url = await freshPostgresDatabase(adminUrl, name);
  if (run === 1) databases.postgresql = await postgresSettings(url);
  return url;
}

export async function postgresSettings(url: string): Promise<Record<string, string>> {
  return withPostgres(url, async (client) => {
    const settings: Record<string, string> = {};
    for (const name of ['server_version', 'fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'max_connections']) {
      const result = await client.query<Record<string, string>>(`show ${name}`);
      settings[name] = String(result.rows[0]?.[name] ?? 'unknown');
    }
    return settings;
  });
}

/** What the server's SQLite connection runs with: journal mode is in the file, synchronous is libsql's default. */
export function sqliteSettings(file: string): Record<string, string> {
  const db = new Database(file);
  try {
    const first = (pragma: string) => Object.values((db.pragma(pragma) as Record<string, unknown>[])[0] ?? {})[0];
    const synchronous = Number(first('synchronous'));
    const names = ['OFF', 'NORMAL', 'FULL', 'EXTRA'];
    return {
      sqlite_version: String((db.prepare('select sqlite_version() as v').get() as { v: string }).v),
      journal_mode: String(first('journal_mode')),
      synchronous: `${names[synchronous] ?? synchronous} (${synchronous}; the server does not change it)`,
    };
  } finally {
    db.close();
  }
}
