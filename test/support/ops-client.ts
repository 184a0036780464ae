// A watcher of the `/ops` Socket.IO namespace for tests (server/realtime/ops-gateway.ts): it
// records the `integrations` snapshot sent on connection and every `integration.health`,
// `integration.changed` and `integration.progress` event in arrival order.
import { io, type Socket } from 'socket.io-client';
import type { BackgroundRun, IntegrationView } from '../../shared/integrations.ts';
import type { IntegrationKind } from '../../server/integrations/provider.ts';

export type HealthEvent = { tenantId: string; kind: IntegrationKind; changed: boolean; integration: IntegrationView };
export type ChangedEvent = { tenantId: string; kind: IntegrationKind; reason: string; integration: IntegrationView | null };
export type ProgressEvent = { tenantId: string; kind: IntegrationKind; run: BackgroundRun };

export class OpsWatcher {
  readonly socket: Socket;
  /** The snapshot sent on connection (undefined until it arrives). */
  snapshot: IntegrationView[] | undefined;
  readonly health: HealthEvent[] = [];
  readonly changed: ChangedEvent[] = [];
  readonly progress: ProgressEvent[] = [];

  constructor(baseUrl: string, token: string) {
    this.socket = io(`${baseUrl}/ops`, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
    this.socket.on('integrations', (payload: { integrations: IntegrationView[] }) => (this.snapshot = payload.integrations));
    this.socket.on('integration.health', (event: HealthEvent) => this.health.push(event));
    this.socket.on('integration.changed', (event: ChangedEvent) => this.changed.push(event));
    this.socket.on('integration.progress', (event: ProgressEvent) => this.progress.push(event));
  }

  /** Resolves once connected; rejects with the server's refusal. */
  connect(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('connect_error', reject);
    });
  }

  /** The refusal's error body (`{ code, message }`); fails if the server let the socket in. */
  refusal(): Promise<{ code: string; message: string }> {
    return new Promise((resolve, reject) => {
      this.socket.once('connect', () => reject(new Error('the /ops namespace accepted the socket')));
      this.socket.once('connect_error', (error) => resolve((error as Error & { data: { code: string; message: string } }).data));
    });
  }

  /** The health events of one tenant, in arrival order. */
  healthOf(tenantId: string): HealthEvent[] {
    return this.health.filter((event) => event.tenantId === tenantId);
  }

  close(): void {
    this.socket.close();
  }
}
