// Installs the benchmark's peers (bench/peers: Hocuspocus 3 with its SQLite extension,
// @y/websocket-server 0.1.0 and the peers' clients) exactly as bench/peers/package-lock.json pins
// them. They are not dependencies of the server: `npm ci --prefix bench/peers`, with npm's download
// cache under .cache/npm-peers, runs when bench/peers/node_modules is missing or was installed from
// another lockfile (a hash of the lockfile is kept in node_modules/.glavito-lock-hash).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../test/support/server-process.ts';

export const PEERS_DIR = path.join(REPO_ROOT, 'bench/peers');

/** The versions installed, as the lockfile pins them (for the report). */
export function peerVersions(): Record<string, string> {
  const lock = JSON.parse(fs.readFileSync(path.join(PEERS_DIR, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  const names = ['@hocuspocus/server', '@hocuspocus/extension-sqlite', '@hocuspocus/extension-redis', '@hocuspocus/provider', '@y/websocket-server', 'y-websocket', 'yjs', 'ws', 'sqlite3'];
  return Object.fromEntries(names.map((name) => [name, lock.packages[`node_modules/${name}`]?.version ?? 'missing']));
}

export function ensurePeersInstalled(log: (message: string) => void): void {
  const lockfile = fs.readFileSync(path.join(PEERS_DIR, 'package-lock.json'));
  const hash = createHash('sha256').update(lockfile).digest('hex');
  const marker = path.join(PEERS_DIR, 'node_modules/.glavito-lock-hash');
  const installed = fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8').trim() : '';
  if (installed !== hash) {
    log('installing the peers: npm ci --prefix bench/peers');
    const started = performance.now();
    const npm = spawnSync('npm', ['ci', '--prefix', PEERS_DIR, '--cache', path.join(REPO_ROOT, '.cache/npm-peers'), '--no-audit', '--no-fund'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 2, 2],
    });
    if (npm.status !== 0) throw new Error(`npm ci --prefix bench/peers failed (${npm.status ?? npm.signal})`);
    fs.writeFileSync(marker, `${hash}\n`);
    // Mostly building sqlite3's native addon where no prebuilt binary can be downloaded: once per checkout.
    log(`peers installed in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  // The SQLite extension needs sqlite3's native addon (its install script, allowed in bench/peers/package.json: a prebuilt binary or a node-gyp build).
  const check = spawnSync(process.execPath, ['-e', "require('sqlite3')"], { cwd: PEERS_DIR, encoding: 'utf8' });
  if (check.status !== 0) {
    throw new Error(`sqlite3 does not load in bench/peers (run \`npm rebuild sqlite3 --prefix bench/peers --allow-scripts=sqlite3\`):\n${check.stderr}`);
  }
}
