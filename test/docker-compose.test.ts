// The cluster topology (docker-compose.yml, deploy/haproxy.cfg, Dockerfile, .dockerignore) checked
// against the server's real configuration schema. No Docker engine runs here, so these tests read
// the files; what they prove is that the pieces agree with each other and with server/config.ts.
import { describe, it, expect } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CONFIG_VARIABLES, loadConfig } from '../server/config.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const readRepoFile = (relative: string): string => readFileSync(path.join(ROOT, relative), 'utf8');

const SERVER_NODES = ['node1', 'node2', 'node3'] as const;
const INFRASTRUCTURE = ['postgres', 'redis', 'kafka', 'stripe-mock'] as const;
const LOAD_BALANCER = 'lb';
/** What a node needs to join the cluster (besides the defaults the schema supplies). */
const CLUSTER_VARIABLES = ['DATABASE_URL', 'REDIS_URL', 'KAFKA_BROKERS', 'JWT_SECRET', 'CLUSTER_SECRET', 'ENCRYPTION_KEYS', 'NODE_ID', 'DATA_DIR'];
const SHARED_SECRETS = ['JWT_SECRET', 'CLUSTER_SECRET', 'ENCRYPTION_KEYS'];

/** Plausible values for the `${VAR}` substitutions compose makes from the operator's environment. */
const OPERATOR_ENV: Record<string, string> = {
  POSTGRES_PASSWORD: 'samplepassword',
  JWT_SECRET: 'a-sample-jwt-secret-that-is-long-enough-0123456789',
  CLUSTER_SECRET: 'a-sample-cluster-secret-that-is-long-enough-0123',
  ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
};

// ---------------------------------------------------------------------------------------------
// docker-compose.yml: the parts of the compose format these tests read, in both of its syntaxes.

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const serviceSchema = z.object({
  image: z.string().optional(),
  build: z.union([z.string(), z.object({ context: z.string().optional(), dockerfile: z.string().optional() })]).optional(),
  command: z.union([z.string(), z.array(z.string())]).optional(),
  environment: z.union([z.record(z.string(), z.union([scalar, z.null()])), z.array(z.string())]).optional(),
  ports: z
    .array(z.union([z.string(), z.number(), z.object({ target: z.number(), published: scalar.optional() })]))
    .optional(),
  volumes: z
    .array(
      z.union([
        z.string(),
        z.object({ source: z.string().optional(), target: z.string(), read_only: z.boolean().optional() }),
      ]),
    )
    .optional(),
  depends_on: z
    .union([z.array(z.string()), z.record(z.string(), z.object({ condition: z.string().optional() }))])
    .optional(),
  healthcheck: z.object({ test: z.union([z.string(), z.array(z.string())]).optional() }).optional(),
});
type Service = z.infer<typeof serviceSchema>;

// `merge: true` resolves the `<<: *anchor` keys the way Docker Compose does.
const compose = z
  .object({ services: z.record(z.string(), serviceSchema) })
  .parse(parseYaml(readRepoFile('docker-compose.yml'), { merge: true }));

function service(name: string): Service {
  const found = compose.services[name];
  if (found === undefined) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

/** A service's environment as written (before `${VAR}` substitution); a bare key means unset. */
function rawEnvironment(svc: Service): Record<string, string | undefined> {
  const env = svc.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const eq = entry.indexOf('=');
        return eq === -1 ? [entry, undefined] : [entry.slice(0, eq), entry.slice(eq + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value === null ? undefined : String(value)]));
}

/**
 * Compose's variable substitution: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?error}`, `${VAR?error}`, `${VAR:+alternative}`. A missing required variable throws,
 * as `docker compose up` refuses to start.
 */
function interpolate(value: string, vars: Record<string, string>): string {
  const pattern = /\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;
  return value.replace(
    pattern,
    (_match, dollar: string | undefined, braced: string | undefined, operator: string | undefined, operand: string | undefined, bare: string | undefined) => {
      if (dollar !== undefined) return '$';
      const name = (braced ?? bare) as string;
      const current = vars[name];
      const set = current !== undefined;
      const nonEmpty = set && current !== '';
      switch (operator) {
        case ':-':
          return nonEmpty ? current : (operand ?? '');
        case '-':
          return set ? current : (operand ?? '');
        case ':?':
        case '?':
          if (operator === ':?' ? !nonEmpty : !set) throw new Error(`required variable ${name} is missing: ${operand ?? ''}`);
          return current as string;
        case ':+':
          return nonEmpty ? (operand ?? '') : '';
        case '+':
          return set ? (operand ?? '') : '';
        default:
          return current ?? '';
      }
    },
  );
}

/** A service's environment as its container sees it, with the operator's variables substituted. */
function containerEnvironment(svc: Service, vars: Record<string, string> = OPERATOR_ENV): Record<string, string | undefined> {
  return Object.fromEntries(
    Object.entries(rawEnvironment(svc)).map(([key, value]) => [key, value === undefined ? undefined : interpolate(value, vars)]),
  );
}

function commandWords(svc: Service): string[] {
  if (svc.command === undefined) return [];
  return Array.isArray(svc.command) ? svc.command : svc.command.split(/\s+/);
}

/** The value following `flag` in the service's command (e.g. `--port 6380`), if any. */
function commandOption(svc: Service, flag: string): string | undefined {
  const words = commandWords(svc);
  const index = words.indexOf(flag);
  return index === -1 ? undefined : words[index + 1];
}

function volumes(svc: Service): { source: string | undefined; target: string; readOnly: boolean }[] {
  return (svc.volumes ?? []).map((volume) => {
    if (typeof volume !== 'string') {
      return { source: volume.source, target: volume.target, readOnly: volume.read_only === true };
    }
    const [source, target, mode] = volume.split(':');
    if (target === undefined) return { source: undefined, target: source as string, readOnly: false };
    return { source, target, readOnly: (mode ?? '').split(',').includes('ro') };
  });
}

function publishedPorts(svc: Service): { published: number; target: number }[] {
  return (svc.ports ?? []).flatMap((port) => {
    if (typeof port === 'object') {
      return port.published === undefined ? [] : [{ published: Number(port.published), target: port.target }];
    }
    // "published:target", "ip:published:target", optionally "/tcp"; a lone port is not published.
    const parts = String(port).replace(/\/(tcp|udp)$/, '').split(':');
    if (parts.length < 2) return [];
    return [{ published: Number(parts[parts.length - 2]), target: Number(parts[parts.length - 1]) }];
  });
}

function dependencies(svc: Service): Record<string, string> {
  const deps = svc.depends_on ?? [];
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((name) => [name, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([name, dep]) => [name, dep.condition ?? 'service_started']));
}

/** Services built from this repository's Dockerfile: the server nodes and their one-shot helpers. */
function serverServices(): string[] {
  return Object.entries(compose.services)
    .filter(([, svc]) => svc.build !== undefined)
    .map(([name]) => name);
}

// ---------------------------------------------------------------------------------------------
// deploy/haproxy.cfg: sections of keyword lines, comments dropped.

type HaproxySection = { kind: string; name: string; lines: string[][] };
const HAPROXY_SECTION_KINDS = new Set(['global', 'defaults', 'frontend', 'backend', 'listen', 'resolvers', 'peers', 'userlist', 'program', 'http-errors', 'ring', 'mailers', 'cache']);

function parseHaproxy(text: string): HaproxySection[] {
  const sections: HaproxySection[] = [];
  for (const rawLine of text.split('\n')) {
    const words = rawLine.replace(/(^|\s)#.*$/, '').trim().split(/\s+/).filter((word) => word !== '');
    const [first] = words;
    if (first === undefined) continue;
    if (HAPROXY_SECTION_KINDS.has(first)) {
      sections.push({ kind: first, name: words[1] ?? '', lines: [] });
    } else {
      sections.at(-1)?.lines.push(words);
    }
  }
  return sections;
}

/** The arguments of the last `keyword ...` line in a section (later lines override earlier ones). */
function setting(section: HaproxySection, ...keyword: string[]): string[] | undefined {
  const matching = section.lines.filter((line) => keyword.every((word, i) => line[i] === word));
  return matching.at(-1)?.slice(keyword.length);
}

/** A setting from the section, else from the `defaults` section it follows. */
function effectiveSetting(sections: HaproxySection[], section: HaproxySection, ...keyword: string[]): string[] | undefined {
  const own = setting(section, ...keyword);
  if (own !== undefined) return own;
  const defaults = sections.slice(0, sections.indexOf(section)).filter((s) => s.kind === 'defaults').at(-1);
  return defaults === undefined ? undefined : setting(defaults, ...keyword);
}

/** HAProxy durations: a number with an optional unit, milliseconds by default. */
function durationMs(value: string | undefined): number {
  const match = /^(\d+)(us|ms|s|m|h|d)?$/.exec(value ?? '');
  if (!match) return Number.NaN;
  const factor = { us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? 'ms'] ?? Number.NaN;
  return Number(match[1]) * factor;
}

function lbConfigPath(): string {
  const mount = volumes(service(LOAD_BALANCER)).find((v) => v.target.startsWith('/usr/local/etc/haproxy/'));
  if (mount?.source === undefined) throw new Error('the lb service mounts no HAProxy configuration');
  return path.resolve(ROOT, mount.source);
}

function haproxy(): { sections: HaproxySection[]; frontend: HaproxySection; backend: HaproxySection } {
  const sections = parseHaproxy(readFileSync(lbConfigPath(), 'utf8'));
  const frontend = sections.find((s) => s.kind === 'frontend' || s.kind === 'listen');
  if (frontend === undefined) throw new Error('the HAProxy configuration has no frontend');
  const backendName = setting(frontend, 'default_backend')?.[0];
  const backend = frontend.kind === 'listen' ? frontend : sections.find((s) => s.kind === 'backend' && s.name === backendName);
  if (backend === undefined) throw new Error(`the frontend's default_backend "${backendName}" is not defined`);
  return { sections, frontend, backend };
}

// ---------------------------------------------------------------------------------------------

describe('docker-compose.yml', () => {
  it('defines postgres, redis, kafka, stripe-mock, three server nodes and a load balancer', () => {
    const expected = [...INFRASTRUCTURE, ...SERVER_NODES, LOAD_BALANCER];
    expect(expected.filter((name) => compose.services[name] === undefined)).toEqual([]);
    expect(service('postgres').image).toMatch(/^postgres:15(\.|-|$)/);
    expect(service('redis').image).toMatch(/^redis:7(\.|-|$)/);
    expect(service('kafka').image).toBe('apache/kafka:3.9.1');
    expect(service('stripe-mock').image).toBe('stripe/stripe-mock:v0.197.0');
    expect(service(LOAD_BALANCER).image).toMatch(/^haproxy:/);
  });

  it('builds every server node from the Dockerfile in the repository root', () => {
    for (const name of SERVER_NODES) {
      const build = service(name).build;
      const context = typeof build === 'string' ? build : build?.context;
      const dockerfile = (typeof build === 'object' ? build.dockerfile : undefined) ?? 'Dockerfile';
      expect({ name, context: context === undefined ? undefined : path.resolve(ROOT, context) }).toEqual({ name, context: path.resolve(ROOT) });
      expect(existsSync(path.join(ROOT, dockerfile))).toBe(true);
    }
  });

  it("sets on every server container only variables the config schema reads, including a cluster node's", () => {
    for (const name of serverServices()) {
      const keys = Object.keys(rawEnvironment(service(name)));
      expect({ name, unknown: keys.filter((key) => !CONFIG_VARIABLES.includes(key)) }).toEqual({ name, unknown: [] });
    }
    for (const name of SERVER_NODES) {
      const keys = Object.keys(rawEnvironment(service(name)));
      expect({ name, missing: CLUSTER_VARIABLES.filter((key) => !keys.includes(key)) }).toEqual({ name, missing: [] });
    }
  });

  it('gives every server container a configuration loadConfig accepts once the secrets are filled in', () => {
    for (const name of serverServices()) {
      const config = loadConfig(containerEnvironment(service(name)));
      // A substitution that came out empty reads as "not set", i.e. silently embedded mode.
      expect({ name, database: config.DATABASE_URL !== undefined, redis: config.REDIS_URL !== undefined, kafka: config.KAFKA_BROKERS !== undefined }).toEqual({
        name,
        database: true,
        redis: true,
        kafka: true,
      });
    }
  });

  it('points DATABASE_URL at the postgres service, on its port, as its user and database', () => {
    const postgres = containerEnvironment(service('postgres'));
    const user = postgres.POSTGRES_USER ?? 'postgres';
    const expected = {
      host: 'postgres',
      port: postgres.PGPORT ?? commandOption(service('postgres'), '-p') ?? '5432',
      user,
      password: postgres.POSTGRES_PASSWORD,
      database: postgres.POSTGRES_DB ?? user,
    };
    for (const name of serverServices()) {
      const url = new URL(loadConfig(containerEnvironment(service(name))).DATABASE_URL ?? '');
      expect({
        host: url.hostname,
        port: url.port === '' ? '5432' : url.port,
        user: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password),
        database: url.pathname.slice(1),
      }).toEqual(expected);
    }
  });

  it('points REDIS_URL at the redis service on the port it listens on', () => {
    const port = commandOption(service('redis'), '--port') ?? '6379';
    for (const name of serverServices()) {
      const url = new URL(loadConfig(containerEnvironment(service(name))).REDIS_URL ?? '');
      expect({ host: url.hostname, port: url.port === '' ? '6379' : url.port }).toEqual({ host: 'redis', port });
    }
  });

  it('points KAFKA_BROKERS at the listener the kafka service advertises and listens on', () => {
    const kafka = containerEnvironment(service('kafka'));
    const listeners = (value: string | undefined) =>
      (value ?? '').split(',').filter((l) => l !== '').map((listener) => {
        const match = /^([A-Za-z0-9_]+):\/\/([^:]*):(\d+)$/.exec(listener.trim());
        if (!match) throw new Error(`unreadable Kafka listener "${listener}"`);
        return { name: match[1] as string, host: match[2] as string, port: match[3] as string };
      });
    const advertised = listeners(kafka.KAFKA_ADVERTISED_LISTENERS);
    const bound = listeners(kafka.KAFKA_LISTENERS);
    const controllers = (kafka.KAFKA_CONTROLLER_LISTENER_NAMES ?? '').split(',');
    for (const name of serverServices()) {
      for (const broker of loadConfig(containerEnvironment(service(name))).KAFKA_BROKERS ?? []) {
        const [host, port] = broker.split(':');
        const listener = advertised.find((l) => l.host === host && l.port === port);
        expect({ broker, advertised: listener !== undefined }).toEqual({ broker, advertised: true });
        expect(host).toBe('kafka');
        // The advertised address must be one the broker really binds, and not the controller's.
        expect(bound.some((l) => l.name === listener?.name && l.port === port)).toBe(true);
        expect(controllers).not.toContain(listener?.name);
      }
    }
  });

  it('runs kafka as one KRaft broker and controller with the settings the image requires', () => {
    const kafka = containerEnvironment(service('kafka'));
    // The image refuses to start in KRaft mode without a CLUSTER_ID, a base64url UUID.
    expect(Buffer.from(kafka.CLUSTER_ID ?? '', 'base64url')).toHaveLength(16);
    expect((kafka.KAFKA_PROCESS_ROLES ?? '').split(',').sort()).toEqual(['broker', 'controller']);
    const controllerName = kafka.KAFKA_CONTROLLER_LISTENER_NAMES;
    const controllerPort = new RegExp(`(^|,)${controllerName}://[^:,]*:(\\d+)`).exec(kafka.KAFKA_LISTENERS ?? '')?.[2];
    expect(controllerPort).toBeDefined();
    expect(kafka.KAFKA_CONTROLLER_QUORUM_VOTERS).toBe(`${kafka.KAFKA_NODE_ID}@kafka:${controllerPort}`);
    // A single broker cannot replicate the consumer offsets topic more than once.
    expect(kafka.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR).toBe('1');
  });

  it('gives every server container a distinct NODE_ID and every node its own data volume', () => {
    const ids = serverServices().map((name) => loadConfig(containerEnvironment(service(name))).NODE_ID);
    expect(new Set(ids).size).toBe(ids.length);
    const dataVolumes = SERVER_NODES.map((name) => {
      const dataDir = loadConfig(containerEnvironment(service(name))).DATA_DIR;
      return volumes(service(name)).find((v) => v.target === dataDir)?.source;
    });
    expect(dataVolumes.every((source) => source !== undefined)).toBe(true);
    expect(new Set(dataVolumes).size).toBe(SERVER_NODES.length);
  });

  it('takes the shared secrets from required operator variables, the same on every node', () => {
    for (const secret of SHARED_SECRETS) {
      const written = SERVER_NODES.map((name) => rawEnvironment(service(name))[secret]);
      // One expression everywhere, so every node gets the same key; `:?` so a missing one stops
      // `docker compose up` instead of starting nodes that cannot read each other's tokens.
      expect(new Set(written).size).toBe(1);
      expect(written[0]).toMatch(/^\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]*\}$/);
      const withoutSecrets = Object.fromEntries(Object.entries(OPERATOR_ENV).filter(([key]) => !SHARED_SECRETS.includes(key)));
      expect(() => containerEnvironment(service('node1'), withoutSecrets)).toThrow(/required variable/);
    }
  });

  it('starts the nodes only after postgres, redis and kafka report healthy', () => {
    for (const dependency of ['postgres', 'redis', 'kafka']) {
      expect({ dependency, healthcheck: service(dependency).healthcheck?.test !== undefined }).toEqual({ dependency, healthcheck: true });
      for (const name of SERVER_NODES) {
        expect({ name, dependency, condition: dependencies(service(name))[dependency] }).toEqual({
          name,
          dependency,
          condition: 'service_healthy',
        });
      }
    }
  });
});

describe('the load balancer (lb service and deploy/haproxy.cfg)', () => {
  it('publishes a port that HAProxy listens on', () => {
    const ports = publishedPorts(service(LOAD_BALANCER));
    expect(ports.length).toBeGreaterThan(0);
    const bindPorts = haproxy().frontend.lines.filter((line) => line[0] === 'bind').map((line) => Number(/:(\d+)$/.exec(line[1] ?? '')?.[1]));
    for (const { target } of ports) expect(bindPorts).toContain(target);
  });

  it('mounts its configuration read-only from a file in the repository', () => {
    const mount = volumes(service(LOAD_BALANCER)).find((v) => v.target === '/usr/local/etc/haproxy/haproxy.cfg');
    expect(mount?.readOnly).toBe(true);
    expect(existsSync(lbConfigPath())).toBe(true);
  });

  it("balances over all three nodes, on the PORT each node's configuration listens on", () => {
    const servers = haproxy()
      .backend.lines.filter((line) => line[0] === 'server')
      .map((line) => line[2] ?? '')
      .sort();
    const expected = SERVER_NODES.map((name) => `${name}:${loadConfig(containerEnvironment(service(name))).PORT}`).sort();
    expect(servers).toEqual(expected);
  });

  it('passes WebSocket upgrades through: HTTP mode, which relays Upgrade, and a long tunnel timeout', () => {
    const { sections, frontend, backend } = haproxy();
    // In HTTP mode HAProxy forwards `Connection: Upgrade` / `Upgrade: websocket` and, after the
    // 101, relays the socket as a tunnel; TCP mode would work too but loses the /readyz checks.
    expect(effectiveSetting(sections, frontend, 'mode')).toEqual(['http']);
    expect(effectiveSetting(sections, backend, 'mode')).toEqual(['http']);
    // Without `timeout tunnel`, the 60 s client/server timeouts would cut idle editors off.
    const tunnel = durationMs(effectiveSetting(sections, backend, 'timeout', 'tunnel')?.[0]);
    expect(tunnel).toBeGreaterThanOrEqual(10 * 60_000);
    // Headers that would break the upgrade must not be stripped or overwritten.
    const headerEdits = [...frontend.lines, ...backend.lines].filter((line) => /^(http-request|http-response)$/.test(line[0] ?? ''));
    expect(headerEdits.filter((line) => line.some((word) => /^(connection|upgrade)$/i.test(word)))).toEqual([]);
  });

  it('checks every node on /readyz and takes it out of rotation when that fails', () => {
    const { sections, backend } = haproxy();
    expect(effectiveSetting(sections, backend, 'option', 'httpchk')).toBeDefined();
    const probe = [...(effectiveSetting(sections, backend, 'option', 'httpchk') ?? []), ...(effectiveSetting(sections, backend, 'http-check', 'send') ?? [])];
    expect(probe.some((word) => word === '/readyz')).toBe(true);
    const defaultServer = setting(backend, 'default-server') ?? [];
    const servers = backend.lines.filter((line) => line[0] === 'server');
    expect(servers.length).toBeGreaterThan(0);
    for (const line of servers) expect([...defaultServer, ...line.slice(3)]).toContain('check');
  });
});

describe('the Dockerfile', () => {
  /** Instructions with continuation lines joined and comments dropped. */
  const instructions = readRepoFile('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const space = line.indexOf(' ');
      return { op: line.slice(0, space).toUpperCase(), args: line.slice(space + 1).trim() };
    });
  const argsOf = (op: string) => instructions.filter((i) => i.op === op).map((i) => i.args);

  it('runs node server/main.ts on Node 24 as the non-root node user, with a /healthz check', () => {
    expect(argsOf('FROM')).toEqual(['node:24-bookworm-slim']);
    expect(argsOf('USER').at(-1)).toBe('node');
    expect(JSON.parse(argsOf('CMD').at(-1) ?? 'null')).toEqual(['node', 'server/main.ts']);
    expect(argsOf('EXPOSE')).toContain('3000');
    expect(argsOf('HEALTHCHECK').at(-1)).toContain('/healthz');
  });

  it('installs production dependencies only, without running our postinstall bootstrap', () => {
    const install = argsOf('RUN').find((args) => /\bnpm (install|i|ci)\b/.test(args));
    expect(install).toMatch(/--omit=dev/);
    expect(install).toMatch(/--ignore-scripts/);
  });
});

describe('.dockerignore', () => {
  const patterns = readRepoFile('.dockerignore')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));

  /** Docker's glob: `**` spans folders, `*` and `?` stay within one, and both match dotfiles. */
  function globRegExp(pattern: string): RegExp {
    let source = '';
    for (let i = 0; i < pattern.length; i++) {
      const char = pattern[i] as string;
      if (pattern.startsWith('**/', i)) {
        source += '(?:.*/)?';
        i += 2;
      } else if (pattern.startsWith('**', i)) {
        source += '.*';
        i += 1;
      } else if (char === '*') source += '[^/]*';
      else if (char === '?') source += '[^/]';
      else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    return new RegExp(`^${source}$`);
  }

  /** Docker's rule: the last pattern matching the path or one of its parent folders decides. */
  function sentToBuild(file: string): boolean {
    const prefixes = file.split('/').map((_part, i, parts) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const raw of patterns) {
      const negated = raw.startsWith('!');
      const pattern = globRegExp((negated ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, ''));
      if (prefixes.some((prefix) => pattern.test(prefix))) excluded = !negated;
    }
    return !excluded;
  }

  it('sends the package files and the runtime sources to the build', () => {
    const kept = ['package.json', 'package-lock.json', 'server/main.ts', 'actors/host.ts', 'shared/steps.ts', 'client/sdk.ts'];
    expect(kept.filter((file) => !sentToBuild(file))).toEqual([]);
  });

  it('keeps dependencies, caches, data, tests, benchmarks, docs and secrets out of the image', () => {
    const dropped = [
      'node_modules/yjs/package.json',
      'server/node_modules/x/index.js',
      '.cache/node-v24/bin/node',
      'data/onboarding.sqlite',
      'test/docker-compose.test.ts',
      'server/config.test.ts',
      'bench/run.ts',
      'docs/bench/results.md',
      '.env',
      '.git/HEAD',
    ];
    expect(dropped.filter((file) => sentToBuild(file))).toEqual([]);
  });
});
