// Scheduled health checks in a cluster (issues 5 and 6): every integration has exactly one owner,
// the node holding its shard's lease, and that owner checks it every INTEGRATION_CHECK_INTERVAL_MS
// (±10 % jitter). When a node leaves gracefully (SIGTERM: its shards are handed off) or dies
// (SIGKILL: its leases expire) and comes back, each integration keeps being checked — never lost
// (no pause longer than the interval plus a lease expiry plus a scan) and never duplicated (two
// owners checking at once would show as checks much closer together than the interval).
//
// The provider is a minimal n8n API (test/support/check-log.ts) that records the arrival of every
// check with the tenant's own API key, so each request names the integration it checks.
import { afterEach, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { integrationKey } from '../actors/integration/integration-store.ts';
import { rendezvousOwner, shardOf } from '../actors/cluster/shards.ts';
import { api, tokenFor } from './support/api.ts';
import { distribution, gapsIn, startCheckLog, type Gaps } from './support/check-log.ts';
import { Cluster, settle, type ClusterNode, type ClusterView } from './support/cluster.ts';
import { uniqueName } from './support/isolation.ts';

const INTERVAL_MS = 2_000;
const LEASE_TTL_MS = 3_000;
/** The health scheduler's scan period (server/server.ts): min(5 s, interval / 2). */
const SCAN_MS = Math.min(5_000, INTERVAL_MS / 2);
const TENANTS = 24;
const STEADY_MS = 10_000;
/** What a loaded machine adds to a check's timer: the previous check's own round trip and save, event-loop lag. */
const STEADY_SLACK_MS = 1_000;
/** Longest acceptable pause across a handoff or a failover: the interval, a lease expiry, a scan, slack. */
const LOST_LIMIT_MS = INTERVAL_MS * 1.1 + LEASE_TTL_MS + SCAN_MS + 2_000;
/** Two owners checking the same integration would show as two checks this close together (or closer). */
const DUPLICATE_LIMIT_MS = INTERVAL_MS * 0.5;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Integration = { tenant: string; key: string; apiKey: string; via: string };

/** Every node of the view owns exactly the shards rendezvous hashing gives it among `live`. */
function balanced(view: ClusterView, live: readonly ClusterNode[]): boolean {
  const ids = live.map((node) => node.id);
  return (
    view.nodes.length === live.length &&
    view.nodes.every((node) => ids.includes(node.id)) &&
    view.shards.every((entry) => entry.owner === rendezvousOwner(entry.shard, ids))
  );
}

/**
 * Waits until the running nodes own exactly their target shards. After a SIGKILL, `killed` (the view
 * before it, and the node) also requires each shard the dead incarnation held to carry a new lease:
 * a node restarted within the lease TTL finds its old incarnation's leases still in Redis.
 */
async function waitBalanced(cluster: Cluster, killed?: { before: ClusterView; node: string }, timeoutMs = 30_000): Promise<ClusterView> {
  const live = cluster.running();
  const renewed = (view: ClusterView) =>
    killed === undefined ||
    killed.before.shards.every((old) => old.owner !== killed.node || view.shards[old.shard]!.epoch !== old.epoch);
  const ready = (view: ClusterView) => balanced(view, live) && renewed(view);
  await settle(async () => ready(await cluster.view(live[0]!)), timeoutMs);
  const view = await cluster.view(live[0]!);
  expect({ balanced: balanced(view, live), renewed: renewed(view), nodes: view.nodes.map((node) => node.id).sort() }).toEqual({
    balanced: true,
    renewed: true,
    nodes: live.map((node) => node.id).sort(),
  });
  return view;
}

describe('scheduled health checks in a cluster of three nodes', () => {
  it('restarting nodes (SIGTERM, SIGKILL with a fast and with a slow restart) neither loses nor duplicates an integration’s scheduled checks', async () => {
    const testStarted = Date.now();
    const checks = await startCheckLog();
    cleanups.push(() => checks.close());
    const cluster = await Cluster.start({
      size: 3,
      env: {
        INTEGRATION_CHECK_INTERVAL_MS: String(INTERVAL_MS),
        INTEGRATIONS_ALLOW_PRIVATE_HOSTS: 'true',
        CLUSTER_LEASE_TTL_MS: String(LEASE_TTL_MS),
      },
    });
    cleanups.push(() => cluster.stop());
    const database = new pg.Pool({ connectionString: cluster.databaseUrl, max: 1 });
    cleanups.push(() => database.end());
    await waitBalanced(cluster);

    // Each tenant connects its n8n through another node (so most connects are forwarded to the owner).
    const integrations: Integration[] = await Promise.all(
      Array.from({ length: TENANTS }, async (_, i) => {
        const tenant = uniqueName('checked');
        const node = cluster.nodes[i % cluster.nodes.length]!;
        const apiKey = checks.newKey();
        const response = await api(node.url, await tokenFor(tenant, 'admin')).put<{ status: string }>('/integrations/n8n', {
          credentials: { apiKey },
          config: { baseUrl: checks.url },
        });
        expect({ tenant, status: response.status, integration: response.body.status }).toEqual({ tenant, status: 200, integration: 'connected' });
        return { tenant, key: integrationKey(tenant, 'n8n'), apiKey, via: node.id };
      }),
    );

    // owner_epoch of every integration row, sampled every 250 ms for the whole run.
    const epochSamples: { at: number; epochs: Map<string, number> }[] = [];
    const sampleEpochs = async () => {
      const { rows } = await database.query<{ tenant_id: string; owner_epoch: string }>("select tenant_id, owner_epoch from integration where kind = 'n8n'");
      epochSamples.push({ at: Date.now(), epochs: new Map(rows.map((row) => [row.tenant_id, Number(row.owner_epoch)])) });
    };
    await sampleEpochs();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await sampleEpochs().catch(() => {});
        await sleep(250);
      }
    })();
    cleanups.push(async () => {
      sampling = false;
      await sampler;
    });

    // 1. Steady state: every integration checked about every interval, ±10 %.
    const steadyFrom = Date.now();
    await sleep(STEADY_MS);
    const steadyTo = Date.now();
    const steady = integrations.map((integration) => ({ integration, gaps: gapsIn(checks.checksOf(integration.apiKey), steadyFrom, steadyTo) }));
    console.log(`steady state over ${steadyTo - steadyFrom} ms, gaps between consecutive checks (ms): ${distribution(steady.flatMap(({ gaps }) => gaps.between))}`);
    const [low, high] = [INTERVAL_MS * 0.9 - STEADY_SLACK_MS / 5, INTERVAL_MS * 1.1 + STEADY_SLACK_MS];
    expect(
      steady.flatMap(({ integration, gaps }) =>
        gaps.checks < Math.floor(STEADY_MS / (INTERVAL_MS * 1.1 + STEADY_SLACK_MS)) || gaps.between.some((gap) => gap < low || gap > high)
          ? [{ tenant: integration.tenant, checks: gaps.checks, gaps: gaps.between }]
          : [],
      ),
    ).toEqual([]);

    // 2. A graceful restart, then a crash and restart; checks recorded throughout.
    const events: { at: number; what: string }[] = [];
    const mark = (what: string) => {
      events.push({ at: Date.now(), what });
      console.log(`+${Date.now() - steadyFrom} ms: ${what}`);
    };
    const [n1, n2, n3] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];

    // A graceful restart: n2 hands its shards off on SIGTERM, and gets them back once it rejoined.
    mark('SIGTERM n2');
    n2.process.signal('SIGTERM');
    const term = await n2.process.exited;
    mark(`n2 exited (${term.code ?? term.signal})`);
    expect(term).toEqual({ code: 0, signal: null });
    await cluster.restart(n2);
    mark('n2 ready again');
    await waitBalanced(cluster);
    mark('shards balanced over n1, n2, n3');
    await sleep(2 * INTERVAL_MS);

    // A crash and an immediate restart: n3 is back before its old leases expire, and takes its
    // shards again once they do.
    const beforeKill3 = await cluster.view(n1);
    mark('SIGKILL n3');
    n3.process.signal('SIGKILL');
    await n3.process.exited;
    mark('n3 exited (SIGKILL)');
    await cluster.restart(n3);
    mark('n3 ready again');
    await waitBalanced(cluster, { before: beforeKill3, node: 'n3' });
    mark('shards balanced over n1, n2, n3 (n3 under new leases)');
    await sleep(2 * INTERVAL_MS);

    // A crash and a slow restart: n1's leases expire, n2 and n3 take its shards over, then hand
    // them back when n1 rejoins.
    const beforeKill1 = await cluster.view(n2);
    mark('SIGKILL n1');
    n1.process.signal('SIGKILL');
    await n1.process.exited;
    mark('n1 exited (SIGKILL)');
    await waitBalanced(cluster, { before: beforeKill1, node: 'n1' });
    mark('shards balanced over n2, n3');
    await sleep(2 * INTERVAL_MS);
    await cluster.restart(n1);
    mark('n1 ready again');
    const finalView = await waitBalanced(cluster);
    mark('shards balanced over n1, n2, n3');
    await sleep(3 * INTERVAL_MS);
    const runTo = Date.now();
    mark('end of the recording');

    // (a) never lost, (b) never duplicated — over the whole run, steady state included.
    const run = integrations.map((integration) => ({ integration, gaps: gapsIn(checks.checksOf(integration.apiKey), steadyFrom, runTo) }));
    const ownerOf = (integration: Integration, view: ClusterView) => view.shards[shardOf(integration.key, view.shardCount)]!.owner;
    console.log(
      [
        `per integration over ${runTo - steadyFrom} ms (longest pause, shortest gap, checks; owner at the end):`,
        ...run.map(
          ({ integration, gaps }) =>
            `  ${integration.tenant} shard ${shardOf(integration.key, finalView.shardCount)} on ${ownerOf(integration, finalView)}: max ${gaps.longest} min ${gaps.shortest} checks ${gaps.checks}`,
        ),
        `longest pause per integration (ms): ${distribution(run.map(({ gaps }) => gaps.longest))}`,
        `shortest gap per integration (ms): ${distribution(run.map(({ gaps }) => gaps.shortest))}`,
        `every gap (ms): ${distribution(run.flatMap(({ gaps }) => gaps.between))}`,
        `limits: longest pause <= ${LOST_LIMIT_MS} ms, shortest gap >= ${DUPLICATE_LIMIT_MS} ms`,
      ].join('\n'),
    );
    const suspicious = run.filter(({ gaps }) => gaps.longest > LOST_LIMIT_MS || gaps.shortest < DUPLICATE_LIMIT_MS);
    if (suspicious.length > 0) console.log(diagnose(suspicious, checks.checksOf, cluster, finalView.shardCount, steadyFrom, events));
    expect(run.filter(({ gaps }) => gaps.longest > LOST_LIMIT_MS).map(({ integration, gaps }) => ({ lost: integration.tenant, longest: gaps.longest }))).toEqual([]);
    expect(
      run.filter(({ gaps }) => gaps.shortest < DUPLICATE_LIMIT_MS).map(({ integration, gaps }) => ({ duplicated: integration.tenant, shortest: gaps.shortest })),
    ).toEqual([]);
    // Two owners out of phase could keep every gap above the limit yet check twice as often: no
    // integration got more checks than one owner checking every 0.9 × interval could make.
    const mostChecks = Math.floor((runTo - steadyFrom) / (INTERVAL_MS * 0.9)) + 1;
    expect(run.filter(({ gaps }) => gaps.checks > mostChecks).map(({ integration, gaps }) => ({ tooMany: integration.tenant, checks: gaps.checks, mostChecks }))).toEqual([]);
    // Every request the nodes made was a check with a tenant's own key (no refusal hid a lost check).
    expect(checks.requests.filter((request) => request.status !== 200)).toEqual([]);

    // 3. After the restarts the integrations sit on their target owners among the live nodes, each
    // row claimed under its shard's current lease epoch, and no row's epoch ever went down.
    const live = cluster.running().map((node) => node.id);
    expect(live.sort()).toEqual(['n1', 'n2', 'n3']);
    const owners = integrations.map((integration) => ({
      tenant: integration.tenant,
      owner: ownerOf(integration, finalView),
      target: rendezvousOwner(shardOf(integration.key, finalView.shardCount), live),
    }));
    const perNode = new Map<string, number>();
    owners.forEach(({ owner }) => perNode.set(String(owner), (perNode.get(String(owner)) ?? 0) + 1));
    console.log(`integrations per owner at the end: ${[...perNode].sort().map(([node, count]) => `${node} ${count}`).join(', ')}`);
    expect(owners.filter(({ owner, target }) => owner !== target)).toEqual([]);

    const leaseEpochs = new Map(integrations.map((integration) => [integration.tenant, finalView.shards[shardOf(integration.key, finalView.shardCount)]!.epoch!]));
    const unclaimed = () => {
      const last = epochSamples.at(-1)!.epochs;
      return integrations.filter(({ tenant }) => last.get(tenant) !== leaseEpochs.get(tenant)).map(({ tenant }) => ({ tenant, row: last.get(tenant), lease: leaseEpochs.get(tenant) }));
    };
    await settle(async () => {
      await sampleEpochs();
      return unclaimed().length === 0;
    }, 10_000);
    expect(unclaimed()).toEqual([]);
    sampling = false;
    await sampler;
    const { rows: statuses } = await database.query<{ status: string }>("select status from integration where kind = 'n8n'");
    expect(statuses.map(({ status }) => status)).toEqual(Array.from({ length: TENANTS }, () => 'connected'));
    const decreases = integrations.flatMap(({ tenant }) =>
      epochSamples.flatMap((sample, i) => {
        const before = i === 0 ? undefined : epochSamples[i - 1]!.epochs.get(tenant);
        const now = sample.epochs.get(tenant);
        return before !== undefined && now !== undefined && now < before ? [{ tenant, at: sample.at - steadyFrom, from: before, to: now }] : [];
      }),
    );
    expect(decreases).toEqual([]);
    const [first, last] = [epochSamples[0]!.epochs, epochSamples.at(-1)!.epochs];
    console.log(
      `owner_epoch over ${epochSamples.length} samples: before ${distribution([...first.values()])}, after ${distribution([...last.values()])}; ` +
        `${integrations.filter(({ tenant }) => last.get(tenant)! > first.get(tenant)!).length}/${TENANTS} integrations changed owner epoch; test ran ${Date.now() - testStarted} ms`,
    );
  }, 240_000);
});

/**
 * For integrations whose checks paused too long or came too close: their check times around the
 * worst gaps and what the nodes logged about their shard then (acquired, released, self-fenced).
 */
function diagnose(
  suspicious: { integration: Integration; gaps: Gaps }[],
  checksOf: (apiKey: string) => number[],
  cluster: Cluster,
  shardCount: number,
  origin: number,
  events: readonly { at: number; what: string }[],
): string {
  const shardLogs = ['shard acquired', 'shard released', 'self-fenced'].flatMap((msg) => cluster.logs(msg));
  const relative = (at: number) => `+${at - origin}`;
  const timeline = `test events: ${events.map(({ at, what }) => `${relative(at)} ${what}`).join('; ')}`;
  return [timeline, ...suspicious
    .map(({ integration, gaps }) => {
      const shard = shardOf(integration.key, shardCount);
      const times = checksOf(integration.apiKey).filter((at) => at >= origin);
      const lines = shardLogs
        .filter(({ line }) => line.shard === shard || (Array.isArray(line.shards) && (line.shards as unknown[]).includes(shard)))
        .map(({ node, line }) => ({ at: Date.parse(String(line.time)), text: `${node} ${line.msg} (epoch ${String(line.epoch ?? '-')}${line.reason ? `, ${String(line.reason)}` : ''})` }))
        .sort((a, b) => a.at - b.at);
      return [
        `${integration.tenant} (shard ${shard}, connected via ${integration.via}): longest ${gaps.longest} ms, shortest ${gaps.shortest} ms`,
        `  checks (ms since the steady state began): ${times.map(relative).join(' ')}`,
        ...lines.map(({ at, text }) => `  ${relative(at)} ${text}`),
      ].join('\n');
    })].join('\n');
}
