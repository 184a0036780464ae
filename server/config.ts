// The server's whole configuration: one zod schema over the environment. Every variable is listed
// and explained in README.md ("Configuration"); a test keeps the two in step.
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const optionalString = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

/** `true` or `false` (the default), as a boolean. */
const falseUnlessTrue = z
  .enum(['true', 'false'])
  .default('false')
  .transform((value) => value === 'true');

const integer = (defaultValue: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(defaultValue);

function urlWithProtocols(protocols: readonly string[], example: string) {
  return optionalString.refine(
    (value) => {
      if (value === undefined) return true;
      try {
        const url = new URL(value);
        return protocols.includes(url.protocol) && url.hostname !== '';
      } catch {
        return false;
      }
    },
    { message: `must be a URL like ${example}` },
  );
}

const brokerList = optionalString
  .refine((value) => value === undefined || value.split(',').every((b) => /^[^\s:,]+:\d{1,5}$/.test(b.trim())), {
    message: 'must be a comma-separated list of host:port',
  })
  .transform((value) => (value === undefined ? undefined : value.split(',').map((b) => b.trim())));

/** `kid:base64key` pairs separated by commas; every key must decode to 32 bytes (AES-256). */
const encryptionKeys = optionalString
  .refine(
    (value) =>
      value === undefined ||
      value.split(',').every((pair) => {
        const [kid, key, extra] = pair.trim().split(':');
        return !!kid && /^[A-Za-z0-9_-]{1,32}$/.test(kid) && !!key && extra === undefined && Buffer.from(key, 'base64').length === 32;
      }),
    { message: 'must be kid:base64key pairs separated by commas, each key 32 bytes (e.g. k1:<openssl rand -base64 32>)' },
  )
  .transform((value) =>
    value === undefined
      ? undefined
      : value.split(',').map((pair) => {
          const [kid, key] = pair.trim().split(':') as [string, string];
          return { kid, key: Buffer.from(key, 'base64') };
        }),
  );

export const configSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    HOST: z.string().min(1).default('0.0.0.0'),
    TRUST_PROXY: falseUnlessTrue,
    PORT: integer(3000, 0, 65535),
    NODE_ID: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash and underscore, at most 64')
      .default(`${os.hostname()}-${process.pid}`),
    DATA_DIR: z.string().min(1).default('./data'),
    DATABASE_URL: urlWithProtocols(['postgres:', 'postgresql:'], 'postgres://user:password@host:5432/db'),
    DATABASE_POOL_MAX: integer(10, 1, 200),
    REDIS_URL: urlWithProtocols(['redis:', 'rediss:'], 'redis://host:6379'),
    REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9:._-]{0,64}$/, 'letters, digits, ":", ".", "_" and "-", at most 64').default('glavito:'),
    CLUSTER_SECRET: optionalString.refine((value) => value === undefined || value.length >= 32, {
      message: 'must be at least 32 characters',
    }),
    CLUSTER_ADVERTISE_URL: urlWithProtocols(['http:', 'https:'], 'http://node-1:3000'),
    CLUSTER_SHARDS: integer(64, 1, 4096),
    CLUSTER_LEASE_TTL_MS: integer(3_000, 500, 60_000),
    CLUSTER_HANDOFF_CONCURRENCY: integer(4, 1, 256),
    KAFKA_BROKERS: brokerList,
    KAFKA_CLIENT_ID: z.string().min(1).default('glavito-onboarding'),
    JWT_SECRET: optionalString.refine((value) => value === undefined || value.length >= 32, {
      message: 'must be at least 32 characters',
    }),
    JWT_JWKS_URL: urlWithProtocols(['https:', 'http:'], 'https://auth.example.com/.well-known/jwks.json'),
    JWT_ISSUER: optionalString,
    JWT_AUDIENCE: optionalString,
    ENCRYPTION_KEYS: encryptionKeys,
    INTEGRATIONS_ALLOW_PRIVATE_HOSTS: falseUnlessTrue,
    PUBLIC_URL: urlWithProtocols(['https:', 'http:'], 'https://onboarding.example.com'),
    GRAPH_API_URL: urlWithProtocols(['https:', 'http:'], 'https://graph.facebook.com').default('https://graph.facebook.com'),
    GRAPH_API_VERSION: z.string().regex(/^v\d+\.\d+$/, 'must be a Graph API version like v22.0').default('v22.0'),
    STRIPE_API_URL: urlWithProtocols(['https:', 'http:'], 'https://api.stripe.com').default('https://api.stripe.com'),
    INTEGRATION_CHECK_INTERVAL_MS: integer(60_000, 1_000, 86_400_000),
    INTEGRATION_CALL_TIMEOUT_MS: integer(10_000, 100, 120_000),
    INTEGRATION_CALL_ATTEMPTS: integer(3, 1, 10),
    INTEGRATION_BREAKER_THRESHOLD: integer(5, 1, 1_000),
    INTEGRATION_BREAKER_HALF_OPEN_MS: integer(30_000, 100, 3_600_000),
    INTEGRATION_RATE_LIMIT_PER_MINUTE: integer(120, 1, 100_000),
    LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
    SHUTDOWN_TIMEOUT_MS: integer(10_000, 100, 600_000),
    READINESS_TIMEOUT_MS: integer(2_000, 50, 60_000),
    HTTP_BODY_LIMIT_BYTES: integer(1_048_576, 1_024, 64 * 1_048_576),
    SOCKET_MAX_MESSAGE_BYTES: integer(1_048_576, 1_024, 64 * 1_048_576),
    SOCKET_UPDATES_PER_SECOND: integer(60, 1, 10_000),
    MAX_DOCUMENT_BYTES: integer(2 * 1_048_576, 16_384, 256 * 1_048_576),
    SESSION_IDLE_MS: integer(300_000, 100, 86_400_000),
    SESSION_ABANDON_AFTER_MS: integer(30 * 86_400_000, 1_000, 365 * 86_400_000),
    SESSION_SNAPSHOT_EVERY_UPDATES: integer(500, 1, 1_000_000),
    SESSION_SNAPSHOT_EVERY_BYTES: integer(1_048_576, 1_024, 256 * 1_048_576),
    STEP_DURATION_MIN_SAMPLES: integer(5, 1, 10_000),
    UPDATE_DECODE_TIMEOUT_MS: integer(1_000, 10, 60_000),
  })
  .superRefine((env, ctx) => {
    if (env.JWT_SECRET !== undefined && env.JWT_JWKS_URL !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['JWT_JWKS_URL'], message: 'set JWT_SECRET or JWT_JWKS_URL, not both' });
    }
    // Nodes of a cluster must verify each other's tokens, so a secret generated per node will not do.
    if (env.REDIS_URL !== undefined && env.JWT_SECRET === undefined && env.JWT_JWKS_URL === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['JWT_SECRET'],
        message: 'required (or JWT_JWKS_URL) when REDIS_URL is set: every node must share the token key',
      });
    }
    // Every node of a cluster must see the same sessions: one shared PostgreSQL, not a file each.
    if (env.REDIS_URL !== undefined && env.DATABASE_URL === undefined) {
      ctx.addIssue({ code: 'custom', path: ['DATABASE_URL'], message: 'required when REDIS_URL is set: the nodes of a cluster share one PostgreSQL database' });
    }
    // Nodes forward session calls to each other; the endpoint only accepts calls signed with this.
    if (env.REDIS_URL !== undefined && env.CLUSTER_SECRET === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['CLUSTER_SECRET'],
        message: 'required when REDIS_URL is set: nodes sign the calls they forward to each other with it (at least 32 characters)',
      });
    }
    // Any node may read what another node encrypted: a key generated per node will not do.
    if (env.REDIS_URL !== undefined && env.ENCRYPTION_KEYS === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['ENCRYPTION_KEYS'],
        message: 'required when REDIS_URL is set: every node must decrypt the integration credentials any node stored (e.g. k1:<openssl rand -base64 32>)',
      });
    }
  });

/**
 * Each dependency is chosen on its own variable: PostgreSQL when DATABASE_URL is set (else SQLite in
 * DATA_DIR), Redis placement and fan-out when REDIS_URL is set, Kafka relay when KAFKA_BROKERS is set.
 */
export type Config = z.output<typeof configSchema> & { dataDir: string };

/** Names of every variable the schema reads; the README and docker-compose tests check against it. */
export const CONFIG_VARIABLES = Object.keys(configSchema.shape) as readonly string[];

export class ConfigError extends Error {
  readonly problems: readonly { variable: string; message: string }[];

  constructor(problems: readonly { variable: string; message: string }[]) {
    super(
      `Invalid configuration:\n${problems.map((p) => `  - ${p.variable}: ${p.message}`).join('\n')}\n` +
        'See "Configuration" in README.md.',
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const input = Object.fromEntries(CONFIG_VARIABLES.map((name) => [name, env[name]]));
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({ variable: String(issue.path[0] ?? '(environment)'), message: issue.message })),
    );
  }
  return {
    ...parsed.data,
    dataDir: path.resolve(parsed.data.DATA_DIR),
  };
}

/** A URL for logs and error messages: the password is never printed. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
