// A throwaway PostgreSQL cluster: initdb into a temp dir, run it on a free loopback port, delete it on stop.
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './free-port.ts';
import {
  ensureAptPackage,
  isExecutableFile,
  isRoot,
  run,
  spawnService,
  startInTempDir,
  systemUser,
  type SystemUser,
} from './system.ts';

export interface PostgresService {
  url: string;
  stop(): Promise<void>;
}

/** Debian keeps initdb off PATH, in /usr/lib/postgresql/<major>/bin; take the newest major. */
function findInitdb(): string | undefined {
  const root = '/usr/lib/postgresql';
  let majors: string[];
  try {
    majors = fs.readdirSync(root).filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  majors.sort((a, b) => Number(b) - Number(a));
  for (const major of majors) {
    const initdb = path.join(root, major, 'bin', 'initdb');
    if (isExecutableFile(initdb)) return initdb;
  }
  return undefined;
}

/** initdb and postgres refuse to run as root; as root we run them as the package's `postgres` user. */
function serverUser(): SystemUser | undefined {
  if (!isRoot()) return undefined;
  const user = systemUser('postgres');
  if (user === undefined) throw new Error('running as root but there is no `postgres` user (the postgresql package creates it)');
  return user;
}

async function canQuery(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => {}); // a refused or dropped connection is "not ready yet", not a crash
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } finally {
    await client.end().catch(() => {});
  }
}

/** `durable`: keep fsync and synchronous commit on (benchmarks), instead of off (tests). */
export async function startPostgres(options: { durable?: boolean } = {}): Promise<PostgresService> {
  const initdb = await ensureAptPackage(findInitdb, 'postgresql');
  const user = serverUser();
  return startInTempDir('postgres', async (dir, track) => {
    if (user !== undefined) await fs.promises.chown(dir, user.uid, user.gid);
    const dataDir = path.join(dir, 'data');
    // --no-sync: a throwaway cluster need not survive a power cut, and it makes initdb ~10x faster.
    await run(initdb, ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '--encoding=UTF8', '--locale=C'], {
      what: 'initdb',
      cwd: dir,
      user,
    });
    const port = await freePort();
    // Spawned with the postgres uid directly rather than through runuser, which forks and would
    // leave postgres orphaned if runuser were SIGKILLed.
    const server = track(
      spawnService({
        name: 'postgres',
        command: path.join(path.dirname(initdb), 'postgres'),
        args: [
          '-D', dataDir,
          '-p', String(port),
          '-c', 'listen_addresses=127.0.0.1',
          '-c', `unix_socket_directories=${dir}`,
          '-c', 'max_connections=200',
          // Tests throw the data away and should not wait on disk; benchmarks measure real commits.
          ...(options.durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
        ],
        logPath: path.join(dir, 'postgres.log'),
        cwd: dir,
        user,
        // SIGINT is PostgreSQL's "fast" shutdown; SIGTERM ("smart") waits for every client to leave.
        stopSignal: 'SIGINT',
      }),
    );
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    await server.waitUntilReady(() => canQuery(url), { timeoutMs: 30_000, what: `postgres on port ${port} to answer SELECT 1` });
    return { url };
  });
}
