import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../server/config.ts';
import { REPO_ROOT } from './support/server-process.ts';

function problemsOf(env: Record<string, string>): Record<string, string> {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return Object.fromEntries(error.problems.map((p) => [p.variable, p.message]));
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('defaults to the embedded mode on port 3000 with no variable set', () => {
    const config = loadConfig({});
    expect(config.PORT).toBe(3000);
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.REDIS_URL).toBeUndefined();
    expect(config.KAFKA_BROKERS).toBeUndefined();
    expect(config.dataDir).toBe(path.resolve('./data'));
    expect(config.LOG_LEVEL).toBe('info');
  });

  it('names every bad variable at once', () => {
    const problems = problemsOf({
      DATABASE_URL: 'mysql://db/x',
      LOG_LEVEL: 'loud',
      PORT: '70000',
      KAFKA_BROKERS: 'kafka',
      REDIS_URL: 'http://redis',
    });
    expect(Object.keys(problems).sort()).toEqual(['DATABASE_URL', 'KAFKA_BROKERS', 'LOG_LEVEL', 'PORT', 'REDIS_URL']);
    expect(problems.DATABASE_URL).toMatch(/postgres:\/\//);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', REDIS_URL: ' ' }).DATABASE_URL).toBeUndefined();
  });

  it('parses broker lists and encryption key rings', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const config = loadConfig({ KAFKA_BROKERS: 'a:9092, b:9093', ENCRYPTION_KEYS: `k1:${key},k2:${key}`, JWT_SECRET: 'x'.repeat(32) });
    expect(config.KAFKA_BROKERS).toEqual(['a:9092', 'b:9093']);
    expect(config.ENCRYPTION_KEYS?.map((k) => k.kid)).toEqual(['k1', 'k2']);
    expect(problemsOf({ ENCRYPTION_KEYS: 'k1:c2hvcnQ=' })).toHaveProperty('ENCRYPTION_KEYS');
  });

  it('requires a shared token key in a cluster and refuses two kinds of key', () => {
    expect(problemsOf({ REDIS_URL: 'redis://r:6379' })).toHaveProperty('JWT_SECRET');
    expect(problemsOf({ JWT_SECRET: 'x'.repeat(32), JWT_JWKS_URL: 'https://id/jwks' })).toHaveProperty('JWT_JWKS_URL');
    expect(problemsOf({ JWT_SECRET: 'short' })).toHaveProperty('JWT_SECRET');
  });

  it('requires what a cluster node needs besides REDIS_URL: a shared database, a cluster secret and encryption keys', () => {
    const cluster = { REDIS_URL: 'redis://r:6379', JWT_SECRET: 'x'.repeat(32) };
    const keys = `k1:${Buffer.alloc(32, 1).toString('base64')}`;
    expect(Object.keys(problemsOf(cluster)).sort()).toEqual(['CLUSTER_SECRET', 'DATABASE_URL', 'ENCRYPTION_KEYS']);
    expect(problemsOf({ ...cluster, DATABASE_URL: 'postgres://u@db/x', CLUSTER_SECRET: 'short' })).toHaveProperty('CLUSTER_SECRET');
    expect(problemsOf({ ...cluster, DATABASE_URL: 'postgres://u@db/x', CLUSTER_SECRET: 'c'.repeat(32) }).ENCRYPTION_KEYS).toMatch(/required when REDIS_URL is set/);
    expect(() => loadConfig({ ...cluster, DATABASE_URL: 'postgres://u@db/x', CLUSTER_SECRET: 'c'.repeat(32), ENCRYPTION_KEYS: keys })).not.toThrow();
    expect(problemsOf({ REDIS_KEY_PREFIX: 'has space' })).toHaveProperty('REDIS_KEY_PREFIX');
  });

  it('refuses private integration hosts unless INTEGRATIONS_ALLOW_PRIVATE_HOSTS=true', () => {
    expect(loadConfig({}).INTEGRATIONS_ALLOW_PRIVATE_HOSTS).toBe(false);
    expect(loadConfig({ INTEGRATIONS_ALLOW_PRIVATE_HOSTS: 'true' }).INTEGRATIONS_ALLOW_PRIVATE_HOSTS).toBe(true);
    expect(problemsOf({ INTEGRATIONS_ALLOW_PRIVATE_HOSTS: 'yes' })).toHaveProperty('INTEGRATIONS_ALLOW_PRIVATE_HOSTS');
  });

  it('is documented variable by variable in the README', () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    const documented = [...readme.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect([...documented].sort()).toEqual([...CONFIG_VARIABLES].sort());
  });
});
