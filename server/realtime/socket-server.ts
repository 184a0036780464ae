// Socket.IO on the same HTTP server as Koa. Every connection is authenticated in the handshake
// (`auth: { token }`); the namespaces that carry sessions and health streams build on this.
import type http from 'node:http';
import { Server, type ServerOptions, type Socket } from 'socket.io';
import type { Principal } from '../../shared/auth.ts';
import { AppError } from '../../shared/errors.ts';
import type { TokenVerifier } from '../auth/tokens.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { batchFrames } from './frame-batching.ts';

export type SocketData = { principal: Principal };

export type SocketServerOptions = {
  verify: TokenVerifier;
  maxMessageBytes: number;
  log: Logger;
  metrics: Metrics;
  /** Cluster mode: the Redis adapter, so rooms span every node. */
  adapter?: ServerOptions['adapter'];
};

export function createSocketServer(httpServer: http.Server, options: SocketServerOptions) {
  const io = new Server<Record<string, never>, Record<string, never>, Record<string, never>, SocketData>(httpServer, {
    // WebSocket only: no long-polling, so several nodes need no sticky sessions.
    transports: ['websocket'],
    // Frames above this are refused by engine.io (the connection closes); the limit is on purpose.
    maxHttpBufferSize: options.maxMessageBytes,
    serveClient: false,
    // Another WebSocket server (the y-websocket endpoint) shares the HTTP server.
    destroyUpgrade: false,
    ...(options.adapter ? { adapter: options.adapter } : {}),
  });

  const authenticate = async (socket: Socket, next: (error?: Error) => void) => {
    const token: unknown = socket.handshake.auth?.token;
    try {
      if (typeof token !== 'string' || token === '') {
        throw new AppError('AUTH_TOKEN_MISSING', 'send the token as auth.token in the handshake');
      }
      (socket.data as SocketData).principal = await options.verify(token);
      next();
    } catch (error) {
      const appError = error instanceof AppError ? error : new AppError('INTERNAL_ERROR', 'internal error');
      options.metrics.socketAuthFailures.inc({ code: appError.code });
      // Socket.IO sends `message` and `data` to the client in its connect_error event.
      next(Object.assign(new Error(appError.message), { data: appError.toBody().error }));
    }
  };

  // Every namespace authenticates its handshake; an unknown namespace is refused by Socket.IO.
  for (const namespace of [io.of('/'), io.of('/sessions'), io.of('/ops')]) {
    namespace.use(authenticate);
    namespace.on('connection', (socket) => {
      batchFrames(socket.client);
      options.metrics.socketConnections.inc({ namespace: namespace.name });
      socket.once('disconnect', () => options.metrics.socketConnections.dec({ namespace: namespace.name }));
    });
  }

  return io;
}

export type SocketServer = ReturnType<typeof createSocketServer>;
