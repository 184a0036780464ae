// What was measured and where: the commit and the machine, for BENCHMARKS.md and the raw results.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../../test/support/server-process.ts';

export type Machine = {
  cpuModel: string;
  /** Logical CPUs this process may use. */
  cores: number;
  memoryGiB: number;
  node: string;
  kernel: string;
  /** Filesystem of the temp directory, where the databases live during the run. */
  tmpFilesystem: string;
};

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
}

/**
 * `git rev-parse --short HEAD`, plus "+dirty" when tracked or untracked files differ from it
 * (the benchmark's own outputs, BENCHMARKS.md and docs/bench/, do not count).
 */
export function gitCommit(): string {
  try {
    const commit = git(['rev-parse', '--short', 'HEAD']);
    const dirty = git(['status', '--porcelain', '--', '.', ':(exclude)BENCHMARKS.md', ':(exclude)docs/bench']) !== '';
    return dirty ? `${commit}+dirty` : commit;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

export function machine(): Machine {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (match?.[1]) cpuModel = match[1].trim();
  } catch {
    // not Linux: os.cpus() is the best there is
  }
  let tmpFilesystem = 'unknown';
  try {
    const lines = execFileSync('df', ['-T', os.tmpdir()], { encoding: 'utf8' }).trim().split('\n');
    const fields = lines[lines.length - 1]?.split(/\s+/) ?? [];
    if (fields[1]) tmpFilesystem = `${fields[1]} (${fields[0]})`;
  } catch {
    // df missing: leave it unknown
  }
  return {
    cpuModel,
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    tmpFilesystem,
  };
}

export function describeMachine(m: Machine): string {
  return `${m.cpuModel}, ${m.cores} logical cores, ${m.memoryGiB} GiB RAM, Node ${m.node}, ${m.kernel}, temp dir on ${m.tmpFilesystem}`;
}

/**
 * A fingerprint of the code under test: HEAD, the uncommitted changes and the untracked files,
 * outside the benchmark's own directories. Others may be changing the checkout while a benchmark
 * runs; comparing fingerprints taken around each run tells whether they did.
 */
export function sourceFingerprint(): string {
  try {
    const outside = ['--', '.', ':(exclude)bench', ':(exclude)BENCHMARKS.md', ':(exclude)docs/bench'];
    const hash = createHash('sha256');
    hash.update(git(['rev-parse', 'HEAD']));
    hash.update(execFileSync('git', ['diff', 'HEAD', '--binary', ...outside], { cwd: REPO_ROOT }));
    const untracked = git(['ls-files', '--others', '--exclude-standard', ...outside]).split('\n').filter((file) => file !== '');
    for (const file of untracked.sort()) {
      hash.update(file);
      try {
        hash.update(fs.readFileSync(path.join(REPO_ROOT, file)));
      } catch {
        hash.update('(unreadable)');
      }
    }
    return hash.digest('hex').slice(0, 12);
  } catch {
    return 'unknown';
  }
}
