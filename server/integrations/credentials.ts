// Integration credentials at rest (DESIGN §3 invariant 5): AES-256-GCM with a random 12-byte IV,
// stored as the envelope `{ kid, iv, tag, data }` (base64) in `integration.credentials`. The key id
// beside the ciphertext lets keys rotate: the newest key of ENCRYPTION_KEYS encrypts, every key
// decrypts, and `npm run rotate-keys` moves old envelopes to the newest key.
//
// The ciphertext is bound to its row with additional authenticated data (the tenant and the
// integration id), so an envelope copied into another tenant's row (or another integration's)
// fails to decrypt instead of handing that tenant someone else's secrets.
//
// Nothing here logs, and no error carries plaintext, ciphertext or key material: only key ids.
import crypto from 'node:crypto';
import { loadOrCreateSecretFile } from '../auth/local-secret.ts';

export type CredentialEnvelope = { kid: string; iv: string; tag: string; data: string };
export type EncryptionKey = { kid: string; key: Buffer };
/** The row an envelope belongs to: its ciphertext only decrypts there. */
export type CredentialOwner = { tenantId: string; integrationId: string };

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Why an envelope could not be opened; the message names key ids at most, never secrets. */
export class CredentialError extends Error {
  readonly reason: 'unknown-kid' | 'malformed' | 'authentication-failed';

  constructor(reason: CredentialError['reason'], message: string) {
    super(message);
    this.name = 'CredentialError';
    this.reason = reason;
  }
}

/** Additional authenticated data: JSON keeps `a:b` + `c` apart from `a` + `b:c`. */
function associatedData(owner: CredentialOwner): Buffer {
  return Buffer.from(JSON.stringify(['glavito.integration.credentials.v1', owner.tenantId, owner.integrationId]), 'utf8');
}

function decodeField(envelope: Record<string, unknown>, field: 'iv' | 'tag' | 'data', bytes?: number): Buffer {
  const value = envelope[field];
  if (typeof value !== 'string' || value.length % 4 !== 0 || !BASE64.test(value)) {
    throw new CredentialError('malformed', `credentials envelope: "${field}" is not base64`);
  }
  const decoded = Buffer.from(value, 'base64');
  if (bytes !== undefined && decoded.length !== bytes) {
    throw new CredentialError('malformed', `credentials envelope: "${field}" must be ${bytes} bytes`);
  }
  return decoded;
}

export class CredentialCipher {
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly #current: EncryptionKey;

  /** `keys` in ENCRYPTION_KEYS order: the last one encrypts, all of them decrypt. */
  constructor(keys: readonly EncryptionKey[]) {
    const current = keys.at(-1);
    if (current === undefined) throw new Error('CredentialCipher needs at least one key');
    const map = new Map<string, Buffer>();
    for (const { kid, key } of keys) {
      if (!KID_PATTERN.test(kid)) throw new Error(`encryption key id "${kid}" must be 1-32 letters, digits, "_" or "-"`);
      if (key.length !== KEY_BYTES) throw new Error(`encryption key "${kid}" must be ${KEY_BYTES} bytes`);
      if (map.has(kid)) throw new Error(`encryption key id "${kid}" appears twice`);
      map.set(kid, Buffer.from(key));
    }
    this.#keys = map;
    this.#current = { kid: current.kid, key: map.get(current.kid)! };
  }

  /** The key id new envelopes are written under. */
  get currentKid(): string {
    return this.#current.kid;
  }

  /** Whether `envelope` is already under the newest key (rotation leaves it alone). */
  isCurrent(envelope: CredentialEnvelope): boolean {
    return envelope.kid === this.#current.kid;
  }

  /** Encrypts `credentials` (JSON-serialisable) for the row `owner` under the newest key. */
  encrypt(credentials: unknown, owner: CredentialOwner): CredentialEnvelope {
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv(ALGORITHM, this.#current.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(associatedData(owner));
    const data = Buffer.concat([cipher.update(JSON.stringify(credentials), 'utf8'), cipher.final()]);
    return { kid: this.#current.kid, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
  }

  /**
   * The credentials in `envelope`, which must belong to the row `owner`. Returns the parsed JSON
   * as `unknown`: the caller validates it with the provider's credentials schema.
   */
  decrypt(envelope: CredentialEnvelope, owner: CredentialOwner): unknown {
    const fields = envelope as unknown as Record<string, unknown>;
    if (typeof fields !== 'object' || fields === null || typeof fields.kid !== 'string') {
      throw new CredentialError('malformed', 'credentials envelope: "kid" is missing');
    }
    const key = this.#keys.get(fields.kid);
    if (key === undefined) {
      throw new CredentialError(
        'unknown-kid',
        `credentials were encrypted with key "${fields.kid}", which is not among the configured keys (${[...this.#keys.keys()].join(', ')})` +
          (fields.kid === LOCAL_KID ? `: add the line of DATA_DIR/${LOCAL_KEY_FILE} to the front of ENCRYPTION_KEYS` : ': add it to ENCRYPTION_KEYS'),
      );
    }
    const iv = decodeField(fields, 'iv', IV_BYTES);
    // A fixed tag length: GCM would otherwise accept a truncated tag, which is easier to forge.
    const tag = decodeField(fields, 'tag', TAG_BYTES);
    const data = decodeField(fields, 'data');
    const decipher = crypto.createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(owner));
    decipher.setAuthTag(tag);
    let plaintext: string;
    try {
      plaintext = Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8');
    } catch {
      throw new CredentialError(
        'authentication-failed',
        `credentials under key "${fields.kid}" failed authentication: altered, or copied from another integration`,
      );
    }
    return JSON.parse(plaintext) as unknown;
  }

  /** The same credentials under the newest key (a fresh IV); `envelope` must belong to `owner`. */
  reencrypt(envelope: CredentialEnvelope, owner: CredentialOwner): CredentialEnvelope {
    return this.encrypt(this.decrypt(envelope, owner), owner);
  }
}

/** Key id of the key embedded mode generates; the file holds `local:<base64 key>`, an ENCRYPTION_KEYS entry. */
export const LOCAL_KID = 'local';
export const LOCAL_KEY_FILE = 'encryption-key';

/**
 * The keys of this node: ENCRYPTION_KEYS, else (embedded mode) one generated into
 * `DATA_DIR/encryption-key` (mode 0600) on first use. Config validation requires ENCRYPTION_KEYS
 * in cluster mode, where every node must decrypt what any node wrote. `note` says which source
 * was used (never the key), for the caller to log.
 */
export function resolveEncryptionKeys(config: { ENCRYPTION_KEYS?: readonly EncryptionKey[] | undefined; dataDir: string }): {
  keys: readonly EncryptionKey[];
  note: string;
} {
  if (config.ENCRYPTION_KEYS !== undefined) {
    return { keys: config.ENCRYPTION_KEYS, note: `integration credentials encrypted with ENCRYPTION_KEYS key "${config.ENCRYPTION_KEYS.at(-1)?.kid}"` };
  }
  const { file, content, created } = loadOrCreateSecretFile(
    config.dataDir,
    LOCAL_KEY_FILE,
    () => `${LOCAL_KID}:${crypto.randomBytes(KEY_BYTES).toString('base64')}\n`,
  );
  const [kid, key, extra] = content.split(':');
  const bytes = key === undefined ? undefined : Buffer.from(key, 'base64');
  if (kid === undefined || !KID_PATTERN.test(kid) || bytes?.length !== KEY_BYTES || extra !== undefined) {
    throw new Error(`${file} must hold one kid:base64key line with a ${KEY_BYTES}-byte key`);
  }
  return {
    keys: [{ kid, key: bytes }],
    note:
      `ENCRYPTION_KEYS is not set: integration credentials are encrypted with the key ${created ? 'generated into' : 'kept in'} ${file} ` +
      '(keep it with the database; set ENCRYPTION_KEYS, starting with this line, before adding nodes)',
  };
}

export function credentialCipherFor(config: Parameters<typeof resolveEncryptionKeys>[0]): { cipher: CredentialCipher; note: string } {
  const { keys, note } = resolveEncryptionKeys(config);
  return { cipher: new CredentialCipher(keys), note };
}
