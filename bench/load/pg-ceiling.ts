// The PostgreSQL part of the ceiling scenario (issue 7, scenario 6): how many of the edit stream's
// updates (the bytes bench/load/yjs-ceiling.ts generated) PostgreSQL alone appends durably per
// second, from one Node process, with no server, no Socket.IO and no ORM. The table is what an
// update log needs: (id bigserial, session_id text, update bytea, created_at timestamptz).
//
// `rowsPerCommit` 1: one autocommit INSERT per edit (every edit its own commit); more: group commit,
// one multi-row INSERT of that many updates per transaction (autocommit: one statement, one commit).
// `connections` commits are in flight at once (a pg pool of that size, closed loop). The same
// idea as bench/load/db-ceiling.ts (its runLoop and LoadReport), with the stream's bytes and rows.
// Prints one JSON document on stdout: the LoadReport (an operation = a commit) and rows/s.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import pg from 'pg';
import { z } from 'zod';
import { runLoop } from '../support/load-loop.ts';
import { buildReport, readConfig } from '../support/load-report.ts';

const configSchema = z.strictObject({
  url: z.string().min(1),
  /** The edit stream (framed: u32 document, u32 length, update bytes). */
  file: z.string().min(1),
  rowsPerCommit: z.int().positive(),
  connections: z.int().positive(),
  warmupMs: z.int().nonnegative(),
  durationMs: z.int().positive(),
});

const config = readConfig((value) => configSchema.parse(value));

const data = fs.readFileSync(config.file);
const stream: { doc: number; bytes: Buffer }[] = [];
for (let offset = 0; offset < data.length; ) {
  const length = data.readUInt32LE(offset + 4);
  stream.push({ doc: data.readUInt32LE(offset), bytes: data.subarray(offset + 8, offset + 8 + length) });
  offset += 8 + length;
}
const documents = stream.reduce((max, r) => Math.max(max, r.doc + 1), 0);
const sessionIds = Array.from({ length: documents }, () => randomUUID());

const pool = new pg.Pool({ connectionString: config.url, max: config.connections });
pool.on('error', () => {}); // a dropped idle connection surfaces on the next query instead
await pool.query('drop table if exists ceiling_updates');
await pool.query('create table ceiling_updates (id bigserial primary key, session_id text not null, update bytea not null, created_at timestamptz not null default now())');
// A checkpoint now rather than one (e.g. of the database just created) landing in the window.
await pool.query('checkpoint').catch((error: unknown) => console.error(`[pg-ceiling] checkpoint: ${error instanceof Error ? error.message : String(error)}`));
const warm = await Promise.all(Array.from({ length: config.connections }, () => pool.connect()));
for (const client of warm) client.release();

const rows = config.rowsPerCommit;
const sql = `insert into ceiling_updates (session_id, update) values ${Array.from({ length: rows }, (_, i) => `($${2 * i + 1}, $${2 * i + 2})`).join(', ')}`;
// The stream in order, shared by the connections: each commit takes the next `rows` updates.
let next = 0;

const result = await runLoop({
  concurrency: config.connections,
  warmupMs: config.warmupMs,
  durationMs: config.durationMs,
  maxOperations: Number.MAX_SAFE_INTEGER,
  operation: async () => {
    const values: (string | Buffer)[] = [];
    for (let i = 0; i < rows; i += 1) {
      const update = stream[next % stream.length]!;
      next += 1;
      values.push(sessionIds[update.doc]!, update.bytes);
    }
    try {
      await pool.query({ name: `ceiling-${rows}`, text: sql, values });
      return { ok: true };
    } catch (error) {
      return { ok: false, kind: 'insert failed', detail: error instanceof Error ? error.message : String(error) };
    }
  },
});
const stored = Number((await pool.query<{ n: string }>('select count(*)::text as n from ceiling_updates')).rows[0]?.n ?? Number.NaN);
await pool.end();
const report = buildReport(result);
console.error(
  `[pg-ceiling] ${rows} row(s)/commit × ${config.connections} connection(s): ${Math.round(report.throughputPerSecond)} commits/s, ` +
    `${Math.round(report.throughputPerSecond * rows)} rows/s, commit p50 ${report.latencyMs.p50.toFixed(2)} ms, p99 ${report.latencyMs.p99.toFixed(2)} ms`,
);
process.stdout.write(`${JSON.stringify({ ...report, rowsPerCommit: rows, connections: config.connections, rowsPerSecond: report.throughputPerSecond * rows, rowsStored: stored })}\n`);
