// Integration credentials at rest (DESIGN §3 invariant 5): AES-256-GCM envelopes with the key id
// beside the ciphertext, bound to their row; the embedded key; `npm run rotate-keys` on PostgreSQL
// and SQLite.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rotateCredentialKeys, rotateRow } from '../server/cli/rotate-keys.ts';
import { Integration } from '../server/db/entities.ts';
import { migrate, openDatabase, type Database } from '../server/db/orm.ts';
import {
  CredentialCipher,
  CredentialError,
  credentialCipherFor,
  LOCAL_KEY_FILE,
  type CredentialEnvelope,
  type EncryptionKey,
} from '../server/integrations/credentials.ts';
import { tempDir } from './support/config.ts';
import { createTestDatabase, type TestDatabase } from './support/isolation.ts';
import { REPO_ROOT } from './support/server-process.ts';

const run = promisify(execFile);

const key = (kid: string): EncryptionKey => ({ kid, key: crypto.randomBytes(32) });
const k1 = key('k1');
const k2 = key('k2');
const owner = { tenantId: 'acme', integrationId: crypto.randomUUID() };
const secrets = { secretKey: 'sk_test_4242424242', webhookSecret: 'whsec_abc' };

/** Flips one bit of a base64 field. */
function flip(value: string, byte = 0): string {
  const bytes = Buffer.from(value, 'base64');
  bytes[byte]! ^= 0x01;
  return bytes.toString('base64');
}

function reasonOf(action: () => unknown): CredentialError['reason'] {
  try {
    action();
  } catch (error) {
    if (error instanceof CredentialError) return error.reason;
    throw error;
  }
  throw new Error('expected a CredentialError');
}

describe('CredentialCipher', () => {
  const cipher = new CredentialCipher([k1]);

  it('round-trips credentials in a { kid, iv, tag, data } envelope that holds no plaintext', () => {
    const envelope = cipher.encrypt(secrets, owner);
    expect(Object.keys(envelope).sort()).toEqual(['data', 'iv', 'kid', 'tag']);
    expect(envelope.kid).toBe('k1');
    expect(Buffer.from(envelope.iv, 'base64')).toHaveLength(12);
    expect(Buffer.from(envelope.tag, 'base64')).toHaveLength(16);
    expect(JSON.stringify(envelope)).not.toMatch(/sk_test|whsec/);
    expect(cipher.decrypt(envelope, owner)).toEqual(secrets);
  });

  it('uses a fresh IV for every encryption', () => {
    const a = cipher.encrypt(secrets, owner);
    const b = cipher.encrypt(secrets, owner);
    expect(a.iv).not.toBe(b.iv);
    expect(a.data).not.toBe(b.data);
  });

  it('refuses an envelope whose data, tag or iv was altered', () => {
    const envelope = cipher.encrypt(secrets, owner);
    expect(reasonOf(() => cipher.decrypt({ ...envelope, data: flip(envelope.data) }, owner))).toBe('authentication-failed');
    expect(reasonOf(() => cipher.decrypt({ ...envelope, tag: flip(envelope.tag, 15) }, owner))).toBe('authentication-failed');
    expect(reasonOf(() => cipher.decrypt({ ...envelope, iv: flip(envelope.iv, 11) }, owner))).toBe('authentication-failed');
  });

  it('refuses a truncated tag, a short iv and non-base64 fields as malformed', () => {
    const envelope = cipher.encrypt(secrets, owner);
    const truncated = Buffer.from(envelope.tag, 'base64').subarray(0, 4).toString('base64');
    expect(reasonOf(() => cipher.decrypt({ ...envelope, tag: truncated }, owner))).toBe('malformed');
    expect(reasonOf(() => cipher.decrypt({ ...envelope, iv: Buffer.alloc(8).toString('base64') }, owner))).toBe('malformed');
    expect(reasonOf(() => cipher.decrypt({ ...envelope, data: 'not base64!' }, owner))).toBe('malformed');
    expect(reasonOf(() => cipher.decrypt({ iv: envelope.iv } as unknown as CredentialEnvelope, owner))).toBe('malformed');
  });

  it("refuses an envelope copied into another tenant's (or another integration's) row", () => {
    const envelope = cipher.encrypt(secrets, owner);
    expect(reasonOf(() => cipher.decrypt(envelope, { ...owner, tenantId: 'globex' }))).toBe('authentication-failed');
    expect(reasonOf(() => cipher.decrypt(envelope, { ...owner, integrationId: crypto.randomUUID() }))).toBe('authentication-failed');
    // The binding is unambiguous: "a:b" + "c" is not "a" + "b:c".
    const tricky = cipher.encrypt(secrets, { tenantId: 'a:b', integrationId: 'c' });
    expect(reasonOf(() => cipher.decrypt(tricky, { tenantId: 'a', integrationId: 'b:c' }))).toBe('authentication-failed');
  });

  it('names an unknown key id clearly, and no key material', () => {
    const envelope = new CredentialCipher([k2]).encrypt(secrets, owner);
    let message = '';
    try {
      cipher.decrypt(envelope, owner);
    } catch (error) {
      expect(error).toBeInstanceOf(CredentialError);
      expect((error as CredentialError).reason).toBe('unknown-kid');
      message = (error as Error).message;
    }
    expect(message).toMatch(/"k2".*not among the configured keys \(k1\)/);
    expect(message).not.toContain(k1.key.toString('base64'));
    expect(message).not.toContain(envelope.data);
  });

  it('encrypts with the newest key and still decrypts with the older ones', () => {
    const old = cipher.encrypt(secrets, owner);
    const ring = new CredentialCipher([k1, k2]);
    expect(ring.currentKid).toBe('k2');
    expect(ring.isCurrent(old)).toBe(false);
    expect(ring.decrypt(old, owner)).toEqual(secrets);
    const rotated = ring.reencrypt(old, owner);
    expect(rotated.kid).toBe('k2');
    expect(ring.isCurrent(rotated)).toBe(true);
    expect(new CredentialCipher([k2]).decrypt(rotated, owner)).toEqual(secrets);
  });

  it('refuses a key ring with no key, a short key or a repeated key id', () => {
    expect(() => new CredentialCipher([])).toThrow(/at least one key/);
    expect(() => new CredentialCipher([{ kid: 'k1', key: Buffer.alloc(16) }])).toThrow(/32 bytes/);
    expect(() => new CredentialCipher([k1, k1])).toThrow(/twice/);
  });
});

describe('the embedded key', () => {
  it('is generated once into DATA_DIR with mode 0600, and says where', () => {
    const dataDir = tempDir();
    const first = credentialCipherFor({ ENCRYPTION_KEYS: undefined, dataDir });
    const file = path.join(dataDir, LOCAL_KEY_FILE);
    expect(first.note).toContain(`generated into ${file}`);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file, 'utf8')).toMatch(/^local:[A-Za-z0-9+/]{43}=\n$/);

    const envelope = first.cipher.encrypt(secrets, owner);
    const second = credentialCipherFor({ ENCRYPTION_KEYS: undefined, dataDir });
    expect(second.note).toContain(`kept in ${file}`);
    expect(second.cipher.decrypt(envelope, owner)).toEqual(secrets);
    expect(first.note + second.note).not.toContain(fs.readFileSync(file, 'utf8').split(':')[1]!.trim());
  });

  it('is not used when ENCRYPTION_KEYS is set', () => {
    const dataDir = tempDir();
    const { cipher, note } = credentialCipherFor({ ENCRYPTION_KEYS: [k1, k2], dataDir });
    expect(cipher.currentKid).toBe('k2');
    expect(note).toContain('"k2"');
    expect(fs.existsSync(path.join(dataDir, LOCAL_KEY_FILE))).toBe(false);
  });
});

describe.each(['postgresql', 'sqlite'] as const)('key rotation on %s', (dialect) => {
  let db: Database;
  let pgDatabase: TestDatabase | undefined;
  const dataDir = tempDir();

  beforeAll(async () => {
    if (dialect === 'postgresql') pgDatabase = await createTestDatabase();
    db = await openDatabase({ databaseUrl: pgDatabase?.url, dataDir });
    await migrate(db);
  });
  afterAll(async () => {
    await db.close();
    await pgDatabase?.drop();
  });

  async function insert(cipher: CredentialCipher, tenantId: string, kind: string, credentials: unknown): Promise<string> {
    const id = crypto.randomUUID();
    const em = db.em();
    em.create(Integration, { id, tenantId, kind, config: {}, credentials: cipher.encrypt(credentials, { tenantId, integrationId: id }) });
    await em.flush();
    return id;
  }

  async function envelopes(): Promise<Map<string, { tenantId: string; credentials: CredentialEnvelope }>> {
    const rows = await db.em().find(Integration, { credentials: { $ne: null } }, { disableIdentityMap: true });
    return new Map(rows.map((r) => [r.id, { tenantId: r.tenantId, credentials: r.credentials! }]));
  }

  it('re-encrypts every envelope not under the newest key, in batches, and a second run changes nothing', async () => {
    const oldCipher = new CredentialCipher([k1]);
    const ring = new CredentialCipher([k1, k2]);
    const kinds = ['whatsapp', 'instagram', 'email', 'stripe', 'n8n', 'ai'];
    // 7 rows under k1 and 2 already under k2, over two tenants; batches of 3 cover several pages.
    const plain = new Map<string, unknown>();
    for (let i = 0; i < 9; i++) {
      const tenantId = i < 6 ? 'acme' : 'globex';
      const credentials = { token: `secret-${i}` };
      const id = await insert(i === 4 || i === 7 ? ring : oldCipher, tenantId, kinds[i % 6]!, credentials);
      plain.set(id, credentials);
    }
    const em = db.em();
    em.create(Integration, { id: crypto.randomUUID(), tenantId: 'initech', kind: 'ai', config: {}, credentials: null });
    await em.flush();

    const before = await envelopes();
    const report = await rotateCredentialKeys(db, ring, { batchSize: 3 });
    expect(report).toEqual({ scanned: 9, rotated: 7, current: 2, changed: 0, failed: [] });

    const after = await envelopes();
    for (const [id, row] of after) {
      expect({ id, kid: row.credentials.kid }).toEqual({ id, kid: 'k2' });
      // The newest key alone opens every row, and each row only as itself.
      expect(new CredentialCipher([k2]).decrypt(row.credentials, { tenantId: row.tenantId, integrationId: id })).toEqual(plain.get(id));
      if (before.get(id)!.credentials.kid === 'k2') expect(row.credentials).toEqual(before.get(id)!.credentials);
    }

    expect(await rotateCredentialKeys(db, ring, { batchSize: 3 })).toEqual({ scanned: 9, rotated: 0, current: 9, changed: 0, failed: [] });
    expect(await envelopes()).toEqual(after);
  });

  it('leaves a row alone when it changed between the read and the update, and reports rows it cannot decrypt', async () => {
    const ring = new CredentialCipher([k1, k2, key('k3')]);
    const racedId = await insert(new CredentialCipher([k2]), 'umbrella', 'stripe', { token: 'raced' });
    const stale = (await envelopes()).get(racedId)!;
    // Someone else writes the row after the rotation read it, before its update.
    const concurrent = new CredentialCipher([k2]).encrypt({ token: 'newer' }, { tenantId: 'umbrella', integrationId: racedId });
    await db.em().nativeUpdate(Integration, { id: racedId }, { credentials: concurrent });
    expect(await rotateRow(db, ring, { id: racedId, ...stale })).toBe('changed');
    expect((await envelopes()).get(racedId)!.credentials).toEqual(concurrent);

    // A row under a key nobody has any more, and an envelope copied from another row.
    const lostId = await insert(new CredentialCipher([key('gone')]), 'hooli', 'email', { password: 'x' });
    const movedId = crypto.randomUUID();
    const em = db.em();
    em.create(Integration, { id: movedId, tenantId: 'hooli', kind: 'n8n', config: {}, credentials: concurrent });
    await em.flush();

    const report = await rotateCredentialKeys(db, ring);
    const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
    expect(report.failed.sort(byId)).toEqual(
      [
        { id: lostId, tenantId: 'hooli', reason: 'unknown-kid' },
        { id: movedId, tenantId: 'hooli', reason: 'authentication-failed' },
      ].sort(byId),
    );
    expect(report).toMatchObject({ rotated: 10, current: 0, changed: 0 });
    const after = await envelopes();
    expect(after.get(lostId)!.credentials.kid).toBe('gone');
    expect(after.get(movedId)!.credentials).toEqual(concurrent);
    expect(ring.decrypt(after.get(racedId)!.credentials, { tenantId: 'umbrella', integrationId: racedId })).toEqual({ token: 'newer' });
  });
});

describe.each(['postgresql', 'sqlite'] as const)('npm run rotate-keys on %s', (dialect) => {
  let pgDatabase: TestDatabase | undefined;
  const dataDir = tempDir();
  const keyring = (keys: EncryptionKey[]) => keys.map((k) => `${k.kid}:${k.key.toString('base64')}`).join(',');

  beforeAll(async () => {
    if (dialect === 'postgresql') pgDatabase = await createTestDatabase();
  });
  afterAll(async () => {
    await pgDatabase?.drop();
  });

  async function rotateKeys(keys: EncryptionKey[]): Promise<string> {
    const { stdout } = await run('npm', ['run', '--silent', 'rotate-keys', '--', '--batch-size', '2'], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        DATA_DIR: dataDir,
        ENCRYPTION_KEYS: keyring(keys),
        ...(pgDatabase ? { DATABASE_URL: pgDatabase.url } : {}),
      },
    });
    return stdout;
  }

  it('moves every envelope to the newest key and reports counts; a second run changes nothing', async () => {
    const db = await openDatabase({ databaseUrl: pgDatabase?.url, dataDir });
    try {
      await migrate(db);
      const em = db.em();
      const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
      for (const [i, id] of ids.entries()) {
        em.create(Integration, { id, tenantId: 'acme', kind: `kind-${i}`, config: {}, credentials: new CredentialCipher([k1]).encrypt({ n: i }, { tenantId: 'acme', integrationId: id }) });
      }
      await em.flush();

      const first = await rotateKeys([k1, k2]);
      expect(first).toContain('ENCRYPTION_KEYS key "k2"');
      expect(first).toMatch(/3 rotated to key "k2", 0 already current, 0 changed meanwhile, 0 failed \(3 envelopes\)/);
      expect(first).not.toContain(k1.key.toString('base64'));
      expect(await rotateKeys([k1, k2])).toMatch(/0 rotated to key "k2", 3 already current, 0 changed meanwhile, 0 failed/);

      const rows = await db.em().find(Integration, {}, { orderBy: { kind: 'asc' }, disableIdentityMap: true });
      expect(rows.map((r) => new CredentialCipher([k2]).decrypt(r.credentials!, { tenantId: r.tenantId, integrationId: r.id }))).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
    } finally {
      await db.close();
    }
  });
});
