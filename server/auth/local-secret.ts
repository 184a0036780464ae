// Embedded mode needs no configuration: the HS256 secret is generated on first start and kept in
// DATA_DIR (mode 0600), so `npm run token` and the server agree without any variable set. The
// integration credentials key (server/integrations/credentials.ts) is kept the same way.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The content of `dataDir/name`, written by `generate()` (mode 0600) if the file does not exist yet.
 * Returns whether this call created it, so the caller can say so.
 */
export function loadOrCreateSecretFile(dataDir: string, name: string, generate: () => string): { file: string; content: string; created: boolean } {
  const file = path.join(dataDir, name);
  fs.mkdirSync(dataDir, { recursive: true });
  let created = false;
  try {
    // 'wx' fails if the file exists, so two processes starting at once keep one secret.
    fs.writeFileSync(file, generate(), { flag: 'wx', mode: 0o600 });
    created = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return { file, content: fs.readFileSync(file, 'utf8').trim(), created };
}

const JWT_SECRET_FILE = 'jwt-secret';

export function jwtSecretFile(dataDir: string): string {
  return path.join(dataDir, JWT_SECRET_FILE);
}

export function loadOrCreateJwtSecret(dataDir: string): string {
  const { file, content: secret } = loadOrCreateSecretFile(dataDir, JWT_SECRET_FILE, () => crypto.randomBytes(48).toString('base64url'));
  if (secret.length < 32) throw new Error(`${file} holds a secret shorter than 32 characters; delete it to regenerate`);
  return secret;
}

/** The secret this node verifies HS256 tokens with: JWT_SECRET, else the generated one. */
export function resolveJwtSecret(config: { JWT_SECRET?: string | undefined; JWT_JWKS_URL?: string | undefined; dataDir: string }): string | undefined {
  if (config.JWT_JWKS_URL !== undefined) return undefined;
  return config.JWT_SECRET ?? loadOrCreateJwtSecret(config.dataDir);
}
