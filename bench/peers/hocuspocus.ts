// Hocuspocus 3 (unmodified @hocuspocus/server) with its SQLite database extension, as the peer of
// the benchmark comparison (issue 7). Run from the repository root as
//   node bench/peers/hocuspocus.ts <port> <sqlite file> [<redis url> <redis key prefix>]
// It resolves its packages from bench/peers/node_modules (this file's own folder). Prints one line
// `ready <port>` on stdout once it listens.
//
// What it guarantees, as configured (Hocuspocus's defaults): an edit is applied to the in-memory
// Y.Doc and broadcast to the other connections at once, without waiting for storage; the document
// is stored (onStoreDocument → SQLite `documents` table, the whole encoded state) after `debounce`
// (2 s without edits) and at least every `maxDebounce` (10 s) while edits keep coming. A crash can
// lose up to that much acknowledged-looking work: the client is never told when its edit is durable.
//
// With a Redis URL (the peers-cluster scenario: several of these processes, one SQLite file each),
// Hocuspocus's own Redis extension (@hocuspocus/extension-redis, defaults otherwise) joins them: a
// node that loads a document subscribes to its channel `<prefix>:<document>`; on every change
// it publishes its state vector (sync step 1), and the other nodes answer through the channel
// (sync step 2 + their own sync step 1, which brings the change itself), applying what they lack
// and broadcasting it to their own clients. Before storing, a node takes a Redis lock (redlock) on
// the document, so one node at a time stores it. Without the URL nothing of it is loaded.
import { SQLite } from '@hocuspocus/extension-sqlite';
import { Server, type Extension } from '@hocuspocus/server';

const port = Number(process.argv[2]);
const database = process.argv[3];
const redisUrl = process.argv[4];
const redisPrefix = process.argv[5];
if (!Number.isInteger(port) || port <= 0 || database === undefined || (redisUrl !== undefined && redisPrefix === undefined)) {
  console.error('usage: node bench/peers/hocuspocus.ts <port> <sqlite file> [<redis url> <redis key prefix>]');
  process.exit(2);
}

export const GUARANTEES = { debounceMs: 2_000, maxDebounceMs: 10_000 };

const extensions: Extension[] = [new SQLite({ database })];
if (redisUrl !== undefined) {
  const { Redis } = await import('@hocuspocus/extension-redis');
  const url = new URL(redisUrl);
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  extensions.unshift(
    new Redis({
      host: url.hostname,
      port: url.port === '' ? 6379 : Number(url.port),
      prefix: redisPrefix,
      identifier: `bench-${port}`,
      options: {
        db,
        ...(url.username !== '' ? { username: decodeURIComponent(url.username) } : {}),
        ...(url.password !== '' ? { password: decodeURIComponent(url.password) } : {}),
      },
    }),
  );
}

const server = new Server({
  port,
  address: '127.0.0.1',
  quiet: true,
  debounce: GUARANTEES.debounceMs,
  maxDebounce: GUARANTEES.maxDebounceMs,
  // Stores (and then closes) on SIGTERM/SIGINT, as in production.
  stopOnSignals: true,
  extensions,
});
await server.listen();
console.log(`ready ${port}`);
