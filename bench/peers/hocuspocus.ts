// Hocuspocus 3 (unmodified @hocuspocus/server) with its SQLite database extension, as the peer of
// the benchmark comparison (issue 7). Run from the repository root as
//   node bench/peers/hocuspocus.ts <port> <sqlite file>
// It resolves its packages from bench/peers/node_modules (this file's own folder). Prints one line
// `ready <port>` on stdout once it listens.
//
// What it guarantees, as configured (Hocuspocus's defaults): an edit is applied to the in-memory
// Y.Doc and broadcast to the other connections at once, without waiting for storage; the document
// is stored (onStoreDocument → SQLite `documents` table, the whole encoded state) after `debounce`
// (2 s without edits) and at least every `maxDebounce` (10 s) while edits keep coming. A crash can
// lose up to that much acknowledged-looking work: the client is never told when its edit is durable.
import { SQLite } from '@hocuspocus/extension-sqlite';
import { Server } from '@hocuspocus/server';

const port = Number(process.argv[2]);
const database = process.argv[3];
if (!Number.isInteger(port) || port <= 0 || database === undefined) {
  console.error('usage: node bench/peers/hocuspocus.ts <port> <sqlite file>');
  process.exit(2);
}

export const GUARANTEES = { debounceMs: 2_000, maxDebounceMs: 10_000 };

const server = new Server({
  port,
  address: '127.0.0.1',
  quiet: true,
  debounce: GUARANTEES.debounceMs,
  maxDebounce: GUARANTEES.maxDebounceMs,
  // Stores (and then closes) on SIGTERM/SIGINT, as in production.
  stopOnSignals: true,
  extensions: [new SQLite({ database })],
});
await server.listen();
console.log(`ready ${port}`);
