// Java services whose jars come from Maven Central (no tarball download is possible on our
// machines): a minimal pom per service, resolved once with `maven-dependency-plugin:copy-dependencies`
// into a directory under .cache/, which later runs use as the classpath.
import fs from 'node:fs';
import path from 'node:path';
import { ensureAptPackage, findExecutable, run } from './system.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');

export const ensureJava = () => ensureAptPackage(() => findExecutable('java'), 'openjdk-17-jre-headless');

/** For a JVM that starts and serves tests: the quick-start JIT and a serial GC cut start-up time. */
export const QUICK_START_JVM_FLAGS = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-Djava.awt.headless=true'];

export interface MavenJars {
  /** What the jars are, for the log line: "GreenMail 2.1.8". */
  what: string;
  /** The pom listing the dependencies, relative to the repository root. */
  pom: string;
  /** The cache directory under .cache/; the jars land in its `libs` folder. */
  cacheName: string;
  /** A jar that is present only in a complete cache (it appears by one atomic rename). */
  markerJar: string;
}

/** The cached jar directory of `jars`, resolving it with Maven first when it is missing. */
export async function mavenJars(jars: MavenJars): Promise<string> {
  const cacheDir = path.join(repoRoot, '.cache', jars.cacheName);
  const libsDir = path.join(cacheDir, 'libs');
  const marker = path.join(libsDir, jars.markerJar);
  if (fs.existsSync(marker)) return libsDir;
  await ensureJava();
  const mvn = await ensureAptPackage(() => findExecutable('mvn'), 'maven');
  console.error(`services: resolving the ${jars.what} jars with Maven into ${path.relative(repoRoot, libsDir)} (once)`);
  await fs.promises.mkdir(path.dirname(cacheDir), { recursive: true });
  // Download next to the target and rename into place: an interrupted download never looks complete.
  const partial = await fs.promises.mkdtemp(`${cacheDir}.partial-`);
  try {
    await run(
      mvn,
      ['-q', '-B', '-f', path.join(repoRoot, jars.pom), 'dependency:copy-dependencies', `-DoutputDirectory=${path.join(partial, 'libs')}`],
      { what: `resolving the ${jars.what} jars with Maven`, cwd: repoRoot },
    );
    // A cache dir without the marker is not one we made; replace it.
    if (fs.existsSync(cacheDir) && !fs.existsSync(marker)) await fs.promises.rm(cacheDir, { recursive: true, force: true });
    try {
      await fs.promises.rename(partial, cacheDir);
    } catch (error) {
      // Another process finished the same download first: use theirs.
      if (!fs.existsSync(marker)) throw error;
    }
  } finally {
    await fs.promises.rm(partial, { recursive: true, force: true });
  }
  return libsDir;
}
