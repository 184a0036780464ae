import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../server/config.ts';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256!';
export const TEST_CLUSTER_SECRET = 'test-cluster-secret-that-is-long-enough-0123';
/** ENCRYPTION_KEYS for test servers (required with REDIS_URL): one fixed 32-byte key. */
export const TEST_ENCRYPTION_KEYS = `t1:${Buffer.alloc(32, 't').toString('base64')}`;

export function tempDir(prefix = 'glavito-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A configuration for an in-process server: loopback, any port, quiet, its own data dir. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'silent',
    DATA_DIR: tempDir(),
    JWT_SECRET: TEST_JWT_SECRET,
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    // Used only with REDIS_URL; the prefix keeps each test's cluster state apart on the shared Redis.
    CLUSTER_SECRET: TEST_CLUSTER_SECRET,
    REDIS_KEY_PREFIX: `t-${crypto.randomBytes(6).toString('hex')}:`,
    ...env,
  });
}
