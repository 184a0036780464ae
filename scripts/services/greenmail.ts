// A throwaway GreenMail standalone 2.1.8: real SMTP and IMAP servers on one user store, each on a
// free loopback port, plus GreenMail's REST API (users, configuration, readiness). Its jar comes
// from Maven Central once and is cached in .cache/greenmail-2.1.8/libs. Authentication is on:
// users are created through the API (test/support/isolation.ts, createMailUser) and a wrong
// password is refused as a real server refuses it (SMTP 535, IMAP NO).
import path from 'node:path';
import { freePort } from './free-port.ts';
import { ensureJava, mavenJars, QUICK_START_JVM_FLAGS } from './maven.ts';
import { spawnService, startInTempDir } from './system.ts';

export interface GreenMailService {
  /** The REST API's base URL; GET /api/configuration names the SMTP and IMAP ports. */
  url: string;
  stop(): Promise<void>;
}

const GREENMAIL_VERSION = '2.1.8';

async function isReady(url: string): Promise<boolean> {
  // The API starts after the mail servers are listening, so its readiness covers them too.
  const response = await fetch(`${url}/api/service/readiness`, { headers: { Connection: 'close' }, signal: AbortSignal.timeout(2_000) });
  await response.arrayBuffer();
  return response.ok;
}

export async function startGreenMail(): Promise<GreenMailService> {
  const libs = await mavenJars({
    what: `GreenMail ${GREENMAIL_VERSION}`,
    pom: 'scripts/greenmail/pom.xml',
    cacheName: `greenmail-${GREENMAIL_VERSION}`,
    markerJar: `greenmail-standalone-${GREENMAIL_VERSION}.jar`,
  });
  const java = await ensureJava();
  return startInTempDir('greenmail', async (dir, track) => {
    const [smtpPort, imapPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const server = track(
      spawnService({
        name: 'greenmail',
        command: java,
        args: [
          '-Xmx128m',
          ...QUICK_START_JVM_FLAGS,
          ...[['smtp', smtpPort], ['imap', imapPort], ['api', apiPort]].flatMap(([protocol, port]) => [
            `-Dgreenmail.${protocol}.hostname=127.0.0.1`,
            `-Dgreenmail.${protocol}.port=${port}`,
          ]),
          '-jar',
          path.join(libs, `greenmail-standalone-${GREENMAIL_VERSION}.jar`),
        ],
        logPath: path.join(dir, 'greenmail.log'),
        cwd: dir,
      }),
    );
    const url = `http://127.0.0.1:${apiPort}`;
    await server.waitUntilReady(() => isReady(url), { timeoutMs: 30_000, what: `greenmail at ${url} to answer GET /api/service/readiness` });
    return { url };
  });
}
