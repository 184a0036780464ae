// `npm run rotate-keys [-- --batch-size 100]`: re-encrypts every `integration.credentials` envelope
// that is not under the newest key of ENCRYPTION_KEYS, so an old key can then be removed.
//
// Rows are read in batches (keyset on the id); each stale row is re-encrypted in its own
// transaction by a conditional update that applies only while the row still holds the envelope
// read, so a concurrent write (an integration reconnected meanwhile) wins and is counted as
// "changed meanwhile". Running it again finds nothing left to do.
import { parseArgs } from 'node:util';
import { Integration } from '../db/entities.ts';
import { openDatabase, type Database } from '../db/orm.ts';
import { CredentialError, credentialCipherFor, type CredentialCipher, type CredentialEnvelope } from '../integrations/credentials.ts';
import { databaseTarget, loadConfigOrExit } from './cli-config.ts';

export type RotationReport = {
  /** Rows with credentials looked at. */
  scanned: number;
  /** Re-encrypted to the newest key. */
  rotated: number;
  /** Already under the newest key. */
  current: number;
  /** Rewritten by someone else between our read and our update (left as they wrote it). */
  changed: number;
  /** Could not be decrypted (unknown key id, altered, or moved from another row). */
  failed: { id: string; tenantId: string; reason: CredentialError['reason'] }[];
};

type StoredRow = { id: string; tenantId: string; credentials: CredentialEnvelope };

/**
 * Moves one row's envelope (as read) to the newest key, in a transaction of its own, only if the
 * row still holds that envelope. Answers what happened.
 */
export async function rotateRow(db: Database, cipher: CredentialCipher, row: StoredRow): Promise<'rotated' | 'current' | 'changed' | CredentialError> {
  const envelope = row.credentials;
  if (cipher.isCurrent(envelope)) return 'current';
  let next: CredentialEnvelope;
  try {
    next = cipher.reencrypt(envelope, { tenantId: row.tenantId, integrationId: row.id });
  } catch (error) {
    if (error instanceof CredentialError) return error;
    throw error;
  }
  const updated = await db
    .em()
    .transactional((tx) =>
      tx.nativeUpdate(Integration, { id: row.id, credentials: { kid: envelope.kid, iv: envelope.iv, tag: envelope.tag, data: envelope.data } }, { credentials: next }),
    );
  return updated === 1 ? 'rotated' : 'changed';
}

export async function rotateCredentialKeys(db: Database, cipher: CredentialCipher, options: { batchSize?: number } = {}): Promise<RotationReport> {
  const batchSize = options.batchSize ?? 100;
  const report: RotationReport = { scanned: 0, rotated: 0, current: 0, changed: 0, failed: [] };
  let after = '';
  for (;;) {
    const rows = await db.em().find(
      Integration,
      { id: { $gt: after }, credentials: { $ne: null } },
      { fields: ['id', 'tenantId', 'credentials'], orderBy: { id: 'asc' }, limit: batchSize, disableIdentityMap: true },
    );
    for (const row of rows) {
      report.scanned++;
      const outcome = await rotateRow(db, cipher, { id: row.id, tenantId: row.tenantId, credentials: row.credentials! });
      if (outcome instanceof CredentialError) report.failed.push({ id: row.id, tenantId: row.tenantId, reason: outcome.reason });
      else report[outcome]++;
    }
    const last = rows.at(-1);
    if (last === undefined || rows.length < batchSize) return report;
    after = last.id;
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { 'batch-size': { type: 'string', default: '100' } } });
  const batchSize = Number(values['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    console.error('usage: npm run rotate-keys [-- --batch-size <1-10000>]');
    return 2;
  }
  const config = loadConfigOrExit();
  const { cipher, note } = credentialCipherFor(config);
  console.log(note);
  const target = databaseTarget(config);
  const db = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.dataDir });
  try {
    if ((await db.orm.migrator.getPending()).length > 0) {
      console.error(`${target}: migrations are pending; run npm run migrate first`);
      return 1;
    }
    const report = await rotateCredentialKeys(db, cipher, { batchSize });
    for (const failure of report.failed) {
      console.error(`integration ${failure.id} (tenant ${failure.tenantId}): cannot decrypt (${failure.reason})`);
    }
    console.log(
      `${target}: ${report.rotated} rotated to key "${cipher.currentKid}", ${report.current} already current, ` +
        `${report.changed} changed meanwhile, ${report.failed.length} failed (${report.scanned} envelopes)`,
    );
    return report.failed.length > 0 ? 1 : 0;
  } finally {
    await db.close();
  }
}

if (import.meta.main) process.exitCode = await main();
