// The `/ops` Socket.IO namespace: the live health stream of integrations. A tenant's owners and
// admins see their tenant's integrations; the ops role sees every tenant's. Other roles are
// refused at connection. Each change is emitted once, by the node whose actor made it, to the rooms
// `tenant:<id>` and `ops`; in a cluster the Redis adapter carries it to the sockets on other nodes.
//
// Server → client events (docs/PROTOCOL.md):
//   `integrations`          on connection, the tenant's integrations (ops: none, it is a stream)
//   `integration.health`    after every health check: { tenantId, kind, changed, integration }
//   `integration.changed`   connected, enabled, disabled, removed or updated: { tenantId, kind, reason, integration|null }
//   `integration.progress`  a background operation's progress: { tenantId, kind, run }
import type { Namespace, Socket } from 'socket.io';
import type { Role } from '../../shared/auth.ts';
import { AppError } from '../../shared/errors.ts';
import type { IntegrationService } from '../integrations/integration-service.ts';
import type { Logger } from '../logger.ts';
import type { SocketData } from './socket-server.ts';

const TENANT_WATCHERS: readonly Role[] = ['owner', 'admin'];
export const OPS_ROOM = 'ops';
export const tenantRoom = (tenantId: string) => `tenant:${tenantId}`;

export function attachOpsGateway(namespace: Namespace, options: { integrations: IntegrationService; log: Logger }): { detach(): void } {
  namespace.use((socket: Socket, next) => {
    const { principal } = socket.data as SocketData;
    if (principal.role === 'ops' || TENANT_WATCHERS.includes(principal.role)) return next();
    const error = new AppError('FORBIDDEN', `role ${principal.role} may not watch integration health`);
    next(Object.assign(new Error(error.message), { data: error.toBody().error }));
  });

  namespace.on('connection', (socket: Socket) => {
    const { principal } = socket.data as SocketData;
    if (principal.role === 'ops') {
      void socket.join(OPS_ROOM);
      socket.emit('integrations', { integrations: [] });
      return;
    }
    void socket.join(tenantRoom(principal.tenantId));
    options.integrations.list(principal.tenantId).then(
      (integrations) => socket.emit('integrations', { integrations }),
      (error: unknown) => options.log.warn({ err: error, tenantId: principal.tenantId }, 'could not list integrations for an /ops client'),
    );
  });

  const unsubscribe = options.integrations.onBroadcast((broadcast) => {
    const { type, ...payload } = broadcast;
    namespace.to(tenantRoom(broadcast.tenantId)).to(OPS_ROOM).emit(type, payload);
  });
  return { detach: unsubscribe };
}
