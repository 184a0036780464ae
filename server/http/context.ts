import type { DefaultContext, DefaultState, ParameterizedContext } from 'koa';
import type { Principal } from '../../shared/auth.ts';
import type { Logger } from '../logger.ts';

/** What our middleware puts on `ctx.state` for the handlers after it. */
export type AppState = DefaultState & {
  requestId: string;
  log: Logger;
  /** Set by `authenticate`; absent on public routes. */
  principal?: Principal;
};

export type AppContext = ParameterizedContext<AppState, DefaultContext>;
