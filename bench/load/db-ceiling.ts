// The "ceiling" of the step-updates scenario: what the database alone does with the same
// concurrency, as single-row autocommit INSERTs of a ~100-byte blob from one Node process, with
// no HTTP, no server and no ORM. Prints one LoadReport as JSON on stdout.
//
// PostgreSQL: a pg pool with one connection per client, so `concurrency` inserts are in flight.
// SQLite: one libsql connection (the driver MikroORM uses). libsql's API is synchronous and SQLite
// has a single writer, so the clients take turns (the latency includes waiting for one's turn).
import { randomBytes } from 'node:crypto';
import Database from 'libsql';
import pg from 'pg';
import { z } from 'zod';
import { runLoop, type Outcome } from '../support/load-loop.ts';
import { buildReport, readConfig } from '../support/load-report.ts';

const configSchema = z.strictObject({
  backend: z.enum(['postgresql', 'sqlite']),
  /** PostgreSQL URL, or the SQLite file path. */
  target: z.string().min(1),
  concurrency: z.int().positive(),
  warmupMs: z.int().nonnegative(),
  durationMs: z.int().positive(),
  maxOperations: z.int().positive(),
  blobBytes: z.int().positive(),
});

const config = readConfig((value) => configSchema.parse(value));
// A few distinct payloads so no layer can dedupe them.
const blobs = Array.from({ length: 64 }, () => randomBytes(config.blobBytes));
const blob = (sequence: number) => blobs[sequence % blobs.length]!;

let operation: (worker: number, sequence: number) => Promise<Outcome>;
let close: () => Promise<void>;

if (config.backend === 'postgresql') {
  const pool = new pg.Pool({ connectionString: config.target, max: config.concurrency });
  pool.on('error', () => {}); // a dropped idle connection surfaces on the next query instead
  await pool.query('create table if not exists bench_ceiling (id bigserial primary key, payload bytea not null)');
  // Open every connection before the clock starts.
  const warm = await Promise.all(Array.from({ length: config.concurrency }, () => pool.connect()));
  for (const client of warm) client.release();
  operation = async (_worker, sequence) => {
    try {
      await pool.query('insert into bench_ceiling (payload) values ($1)', [blob(sequence)]);
      return { ok: true };
    } catch (error) {
      return { ok: false, kind: 'insert failed', detail: error instanceof Error ? error.message : String(error) };
    }
  };
  close = () => pool.end();
} else {
  const db = new Database(config.target);
  // The same settings as the server's connection (server/db/orm.ts); synchronous stays SQLite's default.
  db.pragma('journal_mode = wal');
  db.pragma('busy_timeout = 5000');
  db.exec('create table if not exists bench_ceiling (id integer primary key autoincrement, payload blob not null)');
  const insert = db.prepare('insert into bench_ceiling (payload) values (?)');
  const runInsert = (sequence: number): Outcome => {
    try {
      // Parameters as one array, as MikroORM passes them: libsql 0.5 aborts on a bare Buffer argument.
      insert.run([blob(sequence)]);
      return { ok: true };
    } catch (error) {
      return { ok: false, kind: 'insert failed', detail: error instanceof Error ? error.message : String(error) };
    }
  };
  // Yield first so the clients take turns like concurrent callers: the measured latency includes
  // waiting for the other clients' inserts, as a caller of a single-writer database would.
  operation = async (_worker, sequence) => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    return runInsert(sequence);
  };
  close = async () => {
    db.close();
  };
}

const result = await runLoop({
  concurrency: config.concurrency,
  warmupMs: config.warmupMs,
  durationMs: config.durationMs,
  maxOperations: config.maxOperations,
  operation,
});
await close();
process.stdout.write(`${JSON.stringify(buildReport(result))}\n`);
