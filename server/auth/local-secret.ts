// Embedded mode needs no configuration: the HS256 secret is generated on first start and kept in
// DATA_DIR (mode 0600), so `npm run token` and the server agree without any variable set.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export function jwtSecretFile(dataDir: string): string {
  return path.join(dataDir, 'jwt-secret');
}

export function loadOrCreateJwtSecret(dataDir: string): string {
  const file = jwtSecretFile(dataDir);
  fs.mkdirSync(dataDir, { recursive: true });
  try {
    // 'wx' fails if the file exists, so two processes starting at once keep one secret.
    fs.writeFileSync(file, crypto.randomBytes(48).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const secret = fs.readFileSync(file, 'utf8').trim();
  if (secret.length < 32) throw new Error(`${file} holds a secret shorter than 32 characters; delete it to regenerate`);
  return secret;
}

/** The secret this node verifies HS256 tokens with: JWT_SECRET, else the generated one. */
export function resolveJwtSecret(config: { JWT_SECRET?: string | undefined; JWT_JWKS_URL?: string | undefined; dataDir: string }): string | undefined {
  if (config.JWT_JWKS_URL !== undefined) return undefined;
  return config.JWT_SECRET ?? loadOrCreateJwtSecret(config.dataDir);
}
