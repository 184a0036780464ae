// Process and machine helpers for the throwaway test services: find or apt-install binaries, run
// commands, spawn long-running services with a log file, and make sure nothing outlives us.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface SystemUser {
  name: string;
  uid: number;
  gid: number;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The first executable called `name` on PATH, then in `extraDirs`. */
export function findExecutable(name: string, extraDirs: readonly string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), ...extraDirs];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** A local account from /etc/passwd (e.g. `postgres`, created by the Debian package). */
export function systemUser(name: string): SystemUser | undefined {
  let passwd: string;
  try {
    passwd = fs.readFileSync('/etc/passwd', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) return { name, uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Cleanup registry: every child and temp dir made here is known, so that whatever way this process
// ends (normal exit, thrown error, Ctrl-C, SIGTERM from CI) no service or data dir is left behind.

interface TrackedChild {
  exitReason(): string | undefined;
  stop(): Promise<void>;
  killNow(): void;
}

const liveChildren = new Set<TrackedChild>();
const tempDirs = new Set<string>();
let safetyNetInstalled = false;

function installSafetyNet(): void {
  if (safetyNetInstalled) return;
  safetyNetInstalled = true;
  // 'exit' handlers must be synchronous, so this is the blunt version: SIGKILL and delete.
  process.on('exit', () => {
    for (const child of liveChildren) child.killNow();
    for (const dir of tempDirs) {
      try {
        fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      } catch {
        // A dying child may still be writing into it; nothing more we can do at exit.
      }
    }
  });
  let signalled = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      const code = 128 + os.constants.signals[signal];
      // A second signal means "now": the exit handler SIGKILLs whatever is left.
      if (signalled) process.exit(code);
      signalled = true;
      void stopAllServices().finally(() => process.exit(code));
    });
  }
}

/** Stops every child started by this module and deletes every temp dir it made. */
export async function stopAllServices(): Promise<void> {
  await Promise.all([...liveChildren].map((child) => child.stop()));
  await Promise.all([...tempDirs].map((dir) => removeTempDir(dir)));
}

function track(child: ChildProcess, stopSignal: NodeJS.Signals, stopTimeoutMs: number): TrackedChild {
  installSafetyNet();
  let reason: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      reason = signal === null ? `exited with code ${code}` : `was killed by ${signal}`;
      resolve();
    });
    child.on('error', (error) => {
      // Without a pid the spawn itself failed and no 'exit' will follow; other errors (a failed
      // kill) leave the process running.
      if (child.pid !== undefined) return;
      reason = `could not be started: ${error.message}`;
      resolve();
    });
  });
  let stopping: Promise<void> | undefined;
  const tracked: TrackedChild = {
    exitReason: () => reason,
    killNow: () => {
      if (reason === undefined) child.kill('SIGKILL');
    },
    stop: () => {
      stopping ??= (async () => {
        if (reason === undefined) {
          child.kill(stopSignal);
          let timer: NodeJS.Timeout | undefined;
          const gaveUp = new Promise<void>((resolve) => {
            timer = setTimeout(() => {
              child.kill('SIGKILL');
              resolve();
            }, stopTimeoutMs);
          });
          await Promise.race([exited, gaveUp]);
          clearTimeout(timer);
        }
        await exited;
      })();
      return stopping;
    },
  };
  liveChildren.add(tracked);
  void exited.then(() => liveChildren.delete(tracked));
  return tracked;
}

/** A fresh directory under the OS temp dir, deleted by removeTempDir or when the process ends. */
export async function makeTempDir(prefix: string): Promise<string> {
  installSafetyNet();
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  await fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 3 });
  tempDirs.delete(dir);
}

/** The last lines of a log file, for error messages. */
/**
 * Starts a service in a fresh temp dir. `start` spawns it (passing the process to `track`) and waits
 * until it answers; the result gains a stop() that stops the process and removes the dir, and a
 * failed start is cleaned up the same way.
 */
export async function startInTempDir<T extends object>(
  prefix: string,
  start: (dir: string, track: (process: ServiceProcess) => ServiceProcess) => Promise<T>,
): Promise<T & { stop(): Promise<void> }> {
  const dir = await makeTempDir(prefix);
  let tracked: ServiceProcess | undefined;
  const stop = async () => {
    await tracked?.stop();
    await removeTempDir(dir);
  };
  try {
    const result = await start(dir, (process) => (tracked = process));
    return { ...result, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export function logTail(file: string, maxLines = 30): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const length = Math.min(size, 16_384);
      const buffer = Buffer.alloc(length);
      fs.readSync(fd, buffer, 0, length, size - length);
      return buffer.toString('utf8').trimEnd().split('\n').slice(-maxLines).join('\n') || '(empty log)';
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    return `(cannot read log: ${errorMessage(error)})`;
  }
}

export interface WaitOptions {
  timeoutMs: number;
  /** What is awaited, for the error message: "redis on port 1234 to answer PING". */
  what: string;
  intervalMs?: number;
  /** Called before each attempt; a returned reason ends the wait at once (e.g. the process died). */
  giveUpIf?: () => string | undefined;
}

/** Polls `check` until it returns true. A throwing check counts as "not yet" and its error is reported on timeout. */
export async function waitFor(check: () => Promise<boolean>, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const reason = options.giveUpIf?.();
    if (reason !== undefined) throw new Error(`gave up waiting for ${options.what}: the process ${reason}`);
    // undefined: ready; '': not ready yet; otherwise why the check failed.
    const failure = await check().then(
      (ready) => (ready ? undefined : ''),
      (error: unknown) => errorMessage(error),
    );
    if (failure === undefined) return;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}${failure ? ` (last error: ${failure})` : ''}`);
    }
    await sleep(options.intervalMs ?? 50);
  }
}

export interface RunOptions {
  /** What the command does, for the error message: "initdb". */
  what: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  user?: SystemUser;
}

/** Runs a command to completion; on failure the error carries the tail of its output. */
export async function run(command: string, args: readonly string[], options: RunOptions): Promise<void> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    uid: options.user?.uid,
    gid: options.user?.gid,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child, 'SIGTERM', 5_000);
  let output = '';
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-32_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', (error) => {
      if (child.pid === undefined) reject(new Error(`${options.what}: cannot run ${command}: ${error.message}`, { cause: error }));
    });
    child.once('close', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal }));
  });
  if (code !== 0) {
    const tail = output.trimEnd().split('\n').slice(-30).join('\n');
    throw new Error(
      `${options.what} failed (${signal ?? `exit code ${code}`}): ${command} ${args.join(' ')}\n--- last output ---\n${tail}`,
    );
  }
}

export interface SpawnServiceOptions {
  name: string;
  command: string;
  args: readonly string[];
  /** stdout and stderr go here; the file lives in the service's temp dir. */
  logPath: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  user?: SystemUser;
  /** The signal asking for a quick clean shutdown; SIGKILL follows after stopTimeoutMs. */
  stopSignal?: NodeJS.Signals;
  stopTimeoutMs?: number;
}

export interface ServiceProcess {
  readonly name: string;
  readonly logPath: string;
  /** Polls `check`; fails at once if the process dies, and the error carries the log tail. */
  waitUntilReady(check: () => Promise<boolean>, options: { timeoutMs: number; what: string }): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a long-running service process, registered so it is stopped when this process ends. */
export function spawnService(options: SpawnServiceOptions): ServiceProcess {
  // The child writes straight into the file, so its output survives even if we die first.
  const logFd = fs.openSync(options.logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      uid: options.user?.uid,
      gid: options.user?.gid,
      stdio: ['ignore', logFd, logFd],
    });
  } finally {
    fs.closeSync(logFd);
  }
  const tracked = track(child, options.stopSignal ?? 'SIGTERM', options.stopTimeoutMs ?? 10_000);
  return {
    name: options.name,
    logPath: options.logPath,
    async waitUntilReady(check, { timeoutMs, what }) {
      try {
        await waitFor(check, { timeoutMs, what, giveUpIf: tracked.exitReason });
      } catch (error) {
        throw new Error(
          `${options.name} did not start: ${errorMessage(error)}\n` +
            `--- last lines of ${options.logPath} ---\n${logTail(options.logPath)}`,
          { cause: error },
        );
      }
    },
    stop: tracked.stop,
  };
}

// ---------------------------------------------------------------------------------------------
// Debian packages

// apt and dpkg take a lock, so installs run one after another; the index is refreshed once.
let aptQueue: Promise<unknown> = Promise.resolve();
let aptIndexFresh = false;

/**
 * The path `binaryCheck` finds, installing `packageName` with apt-get first when it finds nothing.
 * Installing needs root; otherwise the error says what to install.
 */
export async function ensureAptPackage(binaryCheck: () => string | undefined, packageName: string): Promise<string> {
  const found = binaryCheck();
  if (found !== undefined) return found;
  if (!isRoot()) {
    throw new Error(
      `Debian package ${packageName} is not installed and this process is not root, so it cannot install it. ` +
        `Run: sudo apt-get install -y ${packageName}`,
    );
  }
  const install = aptQueue.then(async () => {
    // An install queued before ours may have brought it in (maven pulls in a JRE).
    const already = binaryCheck();
    if (already !== undefined) return already;
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const lockWait = ['-o', 'DPkg::Lock::Timeout=300'];
    if (!aptIndexFresh) {
      await run('apt-get', [...lockWait, 'update'], { what: 'apt-get update', env });
      aptIndexFresh = true;
    }
    console.error(`services: installing Debian package ${packageName}`);
    await run('apt-get', [...lockWait, 'install', '-y', '--no-install-recommends', packageName], {
      what: `apt-get install ${packageName}`,
      env,
    });
    const installed = binaryCheck();
    if (installed === undefined) throw new Error(`installed ${packageName} but still cannot find the program it should provide`);
    return installed;
  });
  aptQueue = install.catch(() => undefined);
  return install;
}
