// A cluster of real server processes (issue 5) and live editors, for the cluster tests and the
// `cluster` benchmark (so no jest here: the tests' assertions over it are in cluster-checks.ts).
//
// Every node runs server/main.ts against one PostgreSQL database and one Redis key prefix, on a
// fixed port: a killed node is restarted where its clients expect it, and they reconnect by
// themselves. Editors are the real SDK (`SessionProvider`); each types short unique tokens into
// the knowledge base introduction (a collaborative Y.Text), so a checker can tell whether every
// acknowledged edit is in the final document exactly once.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import * as Y from 'yjs';
import { OnboardingClient, SessionProvider } from '../../client/sdk/index.ts';
import { freePort } from '../../scripts/services/free-port.ts';
import { waitFor } from '../../scripts/services/system.ts';
import { api, tokenFor } from './api.ts';
import { tempDir, TEST_CLUSTER_SECRET } from './config.ts';
import { requiredEnv, uniqueName } from './isolation.ts';
import { serverProcessEnv, startServerProcess, type LogLine, type ServerProcess } from './server-process.ts';

/** `GET /api/v1/ops/cluster`. */
export type ClusterView = {
  node: string;
  shardCount: number;
  leaseTtlMs: number;
  nodes: { id: string; url: string; self: boolean; startedAt: string; expiresInMs: number }[];
  shards: { shard: number; owner: string | null; epoch: number | null; expiresInMs: number | null }[];
};

/** `GET /api/v1/ops/cluster/sessions/:sessionId`. */
export type SessionPlacement = { sessionId: string; shard: number; owner: string | null; epoch: number | null };

/** What an editor needs of a node: the bench's load processes have the address, not the process. */
export type NodeAddress = { id: string; url: string };

export type ClusterNode = {
  id: string;
  port: number;
  url: string;
  /** The running (or last) incarnation; restart() replaces it. */
  process: ServerProcess;
};

/** Every HTTP call of the harness has a deadline: a SIGSTOPped node accepts connections but never answers. */
const HTTP_TIMEOUT_MS = 2_000;

const hasExited = (server: ServerProcess) => server.child.exitCode !== null || server.child.signalCode !== null;

export class Cluster {
  readonly nodes: ClusterNode[] = [];
  readonly databaseUrl: string;
  /** Where stop() writes every incarnation's log, one file each. */
  readonly logDir = tempDir('glavito-cluster-logs-');
  readonly #env: Record<string, string>;
  readonly #dropDatabase: () => Promise<void>;
  readonly #opsToken: string;
  /** Every process ever started, so stop() leaves none behind. */
  readonly #processes: { id: string; server: ServerProcess }[] = [];
  #nextNode = 1;

  readonly #onSpawn: ((server: ServerProcess) => void) | undefined;

  private constructor(env: Record<string, string>, dropDatabase: () => Promise<void>, opsToken: string, onSpawn?: (server: ServerProcess) => void) {
    this.#env = env;
    this.databaseUrl = env.DATABASE_URL!;
    this.#dropDatabase = dropDatabase;
    this.#opsToken = opsToken;
    this.#onSpawn = onSpawn;
  }

  /**
   * Starts `size` nodes sharing a new database and a new Redis key prefix (on the shared test Redis
   * unless `redisUrl` names another) and waits until each is ready. `env` adds to (or overrides) the
   * nodes' environment; `onSpawn` hears of every node process started, restarts included.
   */
  static async start(options: { size: number; redisUrl?: string; env?: Record<string, string>; onSpawn?: (server: ServerProcess) => void }): Promise<Cluster> {
    const { env, drop } = await serverProcessEnv('postgresql', {
      REDIS_URL: options.redisUrl ?? requiredEnv('TEST_REDIS_URL'),
      // Clusters of different tests share the test Redis: a prefix each keeps them apart.
      REDIS_KEY_PREFIX: `${uniqueName('cl')}:`,
      CLUSTER_SECRET: TEST_CLUSTER_SECRET,
      ...options.env,
    });
    const cluster = new Cluster(env, drop, await tokenFor('ops-tenant', 'ops'), options.onSpawn);
    try {
      // Node 1 migrates the database; the others start once it is ready.
      await cluster.addNode();
      await Promise.all(Array.from({ length: options.size - 1 }, () => cluster.addNode()));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** Starts the next node (n1, n2...) on a free port of its own and waits until it is ready. */
  async addNode(): Promise<ClusterNode> {
    const id = `n${this.#nextNode++}`;
    const port = await freePort();
    const node: ClusterNode = { id, port, url: `http://127.0.0.1:${port}`, process: this.#spawn(id, port) };
    this.nodes.push(node);
    await this.waitReady(node);
    return node;
  }

  node(id: string): ClusterNode {
    const node = this.nodes.find((candidate) => candidate.id === id);
    if (node === undefined) throw new Error(`no node ${id} in this cluster (${this.nodes.map((n) => n.id).join(', ')})`);
    return node;
  }

  /** Starts a node that has exited again, same id and port, and waits until it is ready. */
  async restart(node: ClusterNode): Promise<void> {
    await node.process.exited;
    node.process = this.#spawn(node.id, node.port);
    await this.waitReady(node);
  }

  /** Waits for `/readyz` to answer 200: the node has joined the cluster. */
  async waitReady(node: ClusterNode, timeoutMs = 30_000): Promise<void> {
    const incarnation = node.process;
    await incarnation.listening;
    await waitFor(async () => (await fetch(`${node.url}/readyz`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) })).status === 200, {
      timeoutMs,
      what: `${node.id} to answer /readyz with 200`,
      intervalMs: 100,
      giveUpIf: () => (hasExited(incarnation) ? `exited:\n${incarnation.stderr()}` : undefined),
    });
  }

  /** Nodes whose current incarnation has not exited (a SIGSTOPped node counts as running). */
  running(): ClusterNode[] {
    return this.nodes.filter((node) => !hasExited(node.process));
  }

  /** The cluster as `via` sees it. */
  view(via: ClusterNode): Promise<ClusterView> {
    return this.#ops<ClusterView>(via, '/ops/cluster');
  }

  /** Which shard holds the session and who owns it, as `via` sees it. */
  placement(sessionId: string, via: ClusterNode): Promise<SessionPlacement> {
    return this.#ops<SessionPlacement>(via, `/ops/cluster/sessions/${sessionId}`);
  }

  /** Polls `via` until the session's shard has an owner (it has none while a lease is up for grabs). */
  async owner(sessionId: string, via: ClusterNode, timeoutMs = 15_000): Promise<{ node: ClusterNode; epoch: number }> {
    let placement: SessionPlacement | undefined;
    await waitFor(async () => (placement = await this.placement(sessionId, via)).owner !== null, {
      timeoutMs,
      what: `an owner for session ${sessionId}`,
      intervalMs: 100,
    });
    return { node: this.node(placement!.owner!), epoch: placement!.epoch! };
  }

  /** The sum of a Prometheus metric's samples (over all its labels) on `node`. */
  async metric(node: ClusterNode, name: string): Promise<number> {
    const text = await (await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) })).text();
    const sample = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm');
    return [...text.matchAll(sample)].reduce((sum, match) => sum + Number(match[1]), 0);
  }

  /**
   * From now on, copies every row committed to the update log into a table of the test's own (a
   * trigger, so the copy commits or rolls back with the row). The log itself loses rows to
   * compaction, which also runs whenever a session is passivated, e.g. each time its shard moves.
   */
  async recordCommits(): Promise<void> {
    await this.#query(`
      create table test_commit (id bigint primary key, session_id varchar(36) not null, epoch bigint not null);
      create function test_record_commit() returns trigger language plpgsql as $$
        begin insert into test_commit values (new.id, new.session_id, new.epoch); return new; end $$;
      create trigger test_record_commit after insert on session_update for each row execute function test_record_commit();
    `);
  }

  /** Every update committed for the session since recordCommits(), in id order, with the fencing epoch it was committed under. */
  async commits(sessionId: string): Promise<{ id: number; epoch: number }[]> {
    const rows = await this.#query<{ id: string; epoch: string }>('select id, epoch from test_commit where session_id = $1 order by id', [sessionId]);
    return rows.map((row) => ({ id: Number(row.id), epoch: Number(row.epoch) }));
  }

  /** The session's document rebuilt from the database alone: its snapshot, then the log after it. */
  async storedDocument(sessionId: string): Promise<Y.Doc> {
    const doc = new Y.Doc();
    const [snapshot] = await this.#query<{ upto_update_id: string; state: Buffer }>(
      'select upto_update_id, state from session_snapshot where session_id = $1',
      [sessionId],
    );
    if (snapshot !== undefined) Y.applyUpdate(doc, snapshot.state);
    const updates = await this.#query<{ update: Buffer }>('select update from session_update where session_id = $1 and id > $2 order by id', [
      sessionId,
      snapshot?.upto_update_id ?? '0',
    ]);
    for (const row of updates) Y.applyUpdate(doc, row.update);
    return doc;
  }

  /** The log lines with message `msg` of every incarnation of every node so far. */
  logs(msg: string): { node: string; line: LogLine }[] {
    return this.#processes.flatMap(({ id, server }) => server.logs.filter((line) => line.msg === msg).map((line) => ({ node: id, line })));
  }

  /** SIGKILLs every process still running (a SIGSTOPped one too), writes the logs, drops the database. */
  async stop(): Promise<void> {
    await Promise.all(
      this.#processes.map(async ({ server }) => {
        server.signal('SIGKILL');
        await server.exited;
      }),
    );
    this.#processes.forEach(({ id, server }, index) => {
      const lines = server.logs.map((line) => JSON.stringify(line)).join('\n');
      fs.writeFileSync(path.join(this.logDir, `${String(index).padStart(2, '0')}-${id}.log`), `${lines}\n${server.stderr()}`);
    });
    console.log(`cluster logs: ${this.logDir}`);
    await this.#dropDatabase();
  }

  #spawn(id: string, port: number): ServerProcess {
    const server = startServerProcess({ ...this.#env, NODE_ID: id, PORT: String(port), DATA_DIR: tempDir() });
    this.#processes.push({ id, server });
    this.#onSpawn?.(server);
    return server;
  }

  async #ops<T>(via: ClusterNode, route: string): Promise<T> {
    const response = await Promise.race([
      api(via.url, this.#opsToken).get<T>(route),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${via.id} did not answer GET ${route} in time`)), HTTP_TIMEOUT_MS).unref()),
    ]);
    if (response.status !== 200) throw new Error(`GET ${route} on ${via.id}: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body;
  }

  async #query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  }
}

/** Starts a new tenant's onboarding session through `node`, its introduction an empty Y.Text to type into. */
export async function startSession(node: ClusterNode): Promise<{ tenant: string; sessionId: string }> {
  const tenant = uniqueName('tenant');
  const client = new OnboardingClient({ baseUrl: node.url, token: await tokenFor(tenant, 'admin', 'starter') });
  const sessionId = (await client.start()).view.session.id;
  // A new document has no step data yet; REST writes a long-text field as a Y.Text.
  await client.updateStep(sessionId, 'knowledge_base', { introduction: '' });
  return { tenant, sessionId };
}

/**
 * Polls `check` until it holds or `timeoutMs` passed, and returns either way: the caller then asserts
 * what it expects, so that a timeout fails with a diff of what is wrong rather than "timed out".
 */
export async function settle(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false)) && Date.now() < deadline) await sleep(100);
}

/**
 * Waits until every editor has an edit typed after `since` acknowledged (they must be typing), for
 * at most `timeoutMs`. `lagging`: the editors still without one (described); when none, `slowestMs`
 * is the slowest one's delay from `since`.
 */
export async function waitAcknowledgedAfter(
  editors: readonly Editor<NodeAddress>[],
  since: number,
  timeoutMs = 30_000,
): Promise<{ lagging: string[]; slowestMs: number }> {
  const lagging = () => editors.filter((editor) => editor.ackDelayAfter(since) === undefined).map((editor) => editor.describe());
  await settle(async () => lagging().length === 0, timeoutMs);
  const still = lagging();
  return { lagging: still, slowestMs: still.length > 0 ? Number.NaN : Math.max(...editors.map((editor) => editor.ackDelayAfter(since)!)) };
}

/** The collaborative long text the editors type into. */
export function introduction(doc: Y.Doc): string {
  return String(doc.getMap<unknown>('knowledge_base').get('introduction') ?? '');
}

/** Tokens are an upper-case editor letter then a base-36 counter: `A0`, `A1`... `Az`, `A10`. Short, so thousands fit the 10,000-character field. */
const TOKEN = /[A-Z][0-9a-z]+/g;

/**
 * What an introduction says of the editors' acknowledged tokens: those not there exactly once, and
 * any token there more than once (acknowledged or not). Both lists empty is what every test expects.
 */
export function checkTokens(text: string, editors: readonly Pick<Editor<NodeAddress>, 'acknowledged'>[]): { missing: string[]; duplicated: string[] } {
  const counts = new Map<string, number>();
  for (const [token] of text.matchAll(TOKEN)) counts.set(token, (counts.get(token) ?? 0) + 1);
  return {
    missing: editors.flatMap((editor) => editor.acknowledged()).filter((token) => counts.get(token) !== 1),
    duplicated: [...counts].filter(([, count]) => count > 1).map(([token]) => token),
  };
}

/**
 * A live editor on one node: the SDK's SessionProvider and a Y.Doc. An edit counts as acknowledged
 * when the SDK reports `saved` (its queue of unacknowledged edits drained) after the edit was made.
 * A `refused` event does not say which queued edits it refused, so every edit still waiting then
 * counts as refused: never as acknowledged, since the checker must only rely on certain acks.
 */
export class Editor<Node extends NodeAddress = ClusterNode> {
  readonly letter: string;
  readonly node: Node;
  readonly provider: SessionProvider;
  /** Every edit the SDK reported refused; each test expects none. */
  readonly refusals: { code: string; message: string }[] = [];
  /** Tokens in the order typed; the first `saved` or `refused` after a token settles it. */
  readonly typed: { token: string; typedAt: number; ackedAt?: number; refused?: true }[] = [];
  /** How many of the first tokens are settled. */
  #settled = 0;
  #timer: NodeJS.Timeout | undefined;

  private constructor(letter: string, node: Node, provider: SessionProvider) {
    this.letter = letter;
    this.node = node;
    this.provider = provider;
    provider.on('refused', (error) => {
      this.refusals.push(error);
      for (; this.#settled < this.typed.length; this.#settled += 1) this.typed[this.#settled]!.refused = true;
    });
    provider.on('saved', () => {
      const now = Date.now();
      for (; this.#settled < this.typed.length; this.#settled += 1) this.typed[this.#settled]!.ackedAt = now;
    });
  }

  /** Connects through `node` as a distinct admin and resolves once the document is synced. */
  static open(node: ClusterNode, session: { tenant: string; sessionId: string }, letter: string): Promise<Editor> {
    return Editor.connect(node, session, letter);
  }

  /** open() through a node known by its address alone (a bench load process has no ClusterNode). */
  static async connect<Node extends NodeAddress>(node: Node, session: { tenant: string; sessionId: string }, letter: string): Promise<Editor<Node>> {
    const provider = new SessionProvider({
      url: node.url,
      sessionId: session.sessionId,
      token: await tokenFor(session.tenant, 'admin', `editor-${letter}`),
      // Reconnect quickly: a killed node comes back on the same port within seconds.
      reconnectDelayMs: 100,
      reconnectDelayMaxMs: 500,
    });
    const editor = new Editor(letter, node, provider);
    const synced = new Promise<boolean>((resolve) => {
      provider.on('synced', () => resolve(true));
      setTimeout(() => resolve(false), 15_000).unref();
    });
    if (!(await synced)) {
      editor.close(); // else it would keep reconnecting after the test
      throw new Error(`editor ${letter} could not join session ${session.sessionId} through ${node.id} within 15 s`);
    }
    return editor;
  }

  /** Appends the next token to the introduction. */
  type(): void {
    const token = `${this.letter}${this.typed.length.toString(36)}`;
    this.typed.push({ token, typedAt: Date.now() });
    const text = this.provider.doc.getMap<unknown>('knowledge_base').get('introduction');
    if (!(text instanceof Y.Text)) throw new Error('the introduction is not a Y.Text: is the document synced?');
    text.insert(text.length, token);
  }

  /** Types a token every `intervalMs` until stopTyping(), like a user who keeps typing whatever happens. */
  startTyping(intervalMs: number): void {
    this.#timer = setInterval(() => this.type(), intervalMs);
  }

  stopTyping(): void {
    clearInterval(this.#timer);
  }

  acknowledged(): string[] {
    return this.typed.filter((entry) => entry.ackedAt !== undefined).map((entry) => entry.token);
  }

  /** Milliseconds from `since` to the first acknowledgement of a token typed after it; undefined while there is none. */
  ackDelayAfter(since: number): number | undefined {
    const first = this.typed.find((entry) => entry.typedAt > since && entry.ackedAt !== undefined);
    return first === undefined ? undefined : first.ackedAt! - since;
  }

  /** Waits until every token typed so far is settled (acknowledged, or refused), for at most `timeoutMs`; resolves with how many are not. */
  async drain(timeoutMs = 30_000): Promise<number> {
    await settle(async () => this.#settled === this.typed.length, timeoutMs);
    return this.typed.length - this.#settled;
  }

  text(): string {
    return introduction(this.provider.doc);
  }

  /** `A on n1`, and how many edits were refused with which codes, if any: `(refused: INTERNAL_ERROR x2)`. */
  describe(): string {
    const codes = new Map<string, number>();
    for (const { code } of this.refusals) codes.set(code, (codes.get(code) ?? 0) + 1);
    const refused = [...codes].map(([code, count]) => `${code} x${count}`).join(', ');
    return `${this.letter} on ${this.node.id}${refused === '' ? '' : ` (refused: ${refused})`}`;
  }

  close(): void {
    this.stopTyping();
    this.provider.destroy();
  }
}
