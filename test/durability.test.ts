// No acknowledged edit is lost: SIGKILL the server while admins write, restart it, read back.
import { afterAll, describe, expect, it } from '@jest/globals';
import { api, tokenFor } from './support/api.ts';
import { serverProcessEnv, startServerProcess } from './support/server-process.ts';

const cleanups: (() => Promise<void>)[] = [];
afterAll(() => Promise.all(cleanups.map((drop) => drop())));

describe.each(['sqlite', 'postgresql'] as const)('durability on %s', (dialect) => {
  it('keeps every acknowledged write after a SIGKILL during writes', async () => {
    const { env, drop } = await serverProcessEnv(dialect);
    cleanups.push(drop);
    const first = startServerProcess(env);
    const url = `http://127.0.0.1:${await first.listening}`;
    const admin = api(url, await tokenFor('durable', 'admin'));
    const path = `/onboarding/sessions/${(await admin.post<{ session: { id: string } }>('/onboarding/sessions')).body.session.id}`;

    // Eight writers, each bumping its own counter field one write at a time, until the kill.
    const lastAcked = new Map<string, number>();
    const lastSent = new Map<string, number>();
    let killed = false;
    const writer = async (name: string) => {
      for (let n = 1; !killed && n < 100_000; n += 1) {
        lastSent.set(name, n);
        try {
          const response = await admin.patch(`${path}/steps/data_import`, { fieldMapping: { [name]: `v${n}` } });
          if (response.status !== 200) throw new Error(`write refused: ${response.status}`);
          if (!killed) lastAcked.set(name, n);
        } catch {
          return; // the server is gone
        }
      }
    };
    const writers = Array.from({ length: 8 }, (_, i) => writer(`writer_${i}`));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    // Responses read before this line are acknowledgements the server gave before it died.
    const acknowledged = new Map(lastAcked);
    killed = true;
    first.signal('SIGKILL');
    await first.exited;
    await Promise.all(writers);

    const second = startServerProcess(env);
    try {
      const url2 = `http://127.0.0.1:${await second.listening}`;
      const reader = api(url2, await tokenFor('durable', 'admin'));
      const mapping = (await reader.get<{ data: { data_import: { fieldMapping: Record<string, string> } } }>(path)).body.data.data_import.fieldMapping;
      const total = [...acknowledged.values()].reduce((a, b) => a + b, 0);
      expect(total).toBeGreaterThan(50);
      for (const [name, n] of acknowledged) {
        const stored = Number(mapping[name]?.slice(1));
        // The stored value is the last acknowledged write or a later one that committed unacknowledged.
        expect(stored).toBeGreaterThanOrEqual(n);
        expect(stored).toBeLessThanOrEqual(lastSent.get(name)!);
      }
      console.log(`${dialect}: ${total} acknowledged writes before SIGKILL, all present after restart`);
    } finally {
      second.signal('SIGTERM');
      await second.exited;
    }
  });
});
