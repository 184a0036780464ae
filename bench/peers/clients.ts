// The peers' unmodified clients, for bench/load/peer-edits.ts. This file sits in bench/peers so that
// its imports resolve from bench/peers/node_modules (and every client shares that tree's one copy of
// Yjs); the load generator imports it by URL at run time, so the root type-check never follows it.
export * as Y from 'yjs';
export { WebsocketProvider } from 'y-websocket';
export { HocuspocusProvider } from '@hocuspocus/provider';
export { WebSocket } from 'ws';
