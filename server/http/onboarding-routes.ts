// The OnboardingService over REST (/api/v1). Owners and admins write; agents and viewers read; ops
// see nothing here. Another tenant's session is ONBOARDING_SESSION_NOT_FOUND (404).
import { z } from 'zod';
import {
  auditPageSchema,
  auditQuerySchema,
  eventsPageSchema,
  eventsQuerySchema,
  progressSchema,
  sessionParamsSchema,
  sessionViewSchema,
  stepConfigListSchema,
  stepConfigSchema,
  stepIdParamsSchema,
  stepParamsSchema,
  stepPatchBodySchema,
  stepWriteSchema,
} from '../../shared/api.ts';
import type { Role } from '../../shared/auth.ts';
import { STEP_IDS, STEPS, type StepId } from '../../shared/steps.ts';
import { listAudit, listEvents } from '../db/audit-log.ts';
import type { Database } from '../db/orm.ts';
import type { SessionService } from '../sessions/session-service.ts';
import { defineRoute, type AnyRouteSpec } from './routes.ts';

const WRITERS: readonly Role[] = ['owner', 'admin'];
const READERS: readonly Role[] = ['owner', 'admin', 'agent', 'viewer'];
const empty = z.strictObject({});

function stepConfiguration(stepId: StepId) {
  const step = STEPS[stepId];
  return {
    id: step.id,
    title: step.title,
    description: step.description,
    required: step.required,
    estimatedMinutes: step.estimatedMinutes,
    dependencies: [...step.dependencies],
    longTextFields: [...step.longTextFields],
    defaults: step.defaults,
    schema: z.toJSONSchema(step.schema, { target: 'draft-2020-12', io: 'input' }) as Record<string, unknown>,
  };
}

export function onboardingRoutes(sessions: SessionService, db: Database): AnyRouteSpec[] {
  const transition = (
    summary: string,
    path: string,
    type: 'pause' | 'resume' | 'completeOnboarding',
    errors: string[],
  ) =>
    defineRoute({
      method: 'post',
      path,
      summary,
      tags: ['sessions'],
      roles: WRITERS,
      params: sessionParamsSchema,
      body: empty,
      response: { status: 200, description: 'the session after the change', schema: sessionViewSchema },
      errors: ['ONBOARDING_SESSION_NOT_FOUND', ...errors],
      handler: async ({ params, caller }) => ({ body: await sessions.transition(caller, params.sessionId, { type, caller }) }),
    });

  const stepTransition = (summary: string, path: string, type: 'completeStep' | 'skipStep', errors: string[]) =>
    defineRoute({
      method: 'post',
      path,
      summary,
      tags: ['steps'],
      roles: WRITERS,
      params: stepParamsSchema,
      body: empty,
      response: { status: 200, description: 'the session after the change', schema: sessionViewSchema },
      errors: ['ONBOARDING_SESSION_NOT_FOUND', 'INVALID_STEP_TRANSITION', 'ONBOARDING_SESSION_NOT_ACTIVE', ...errors],
      handler: async ({ params, caller }) => ({
        body: await sessions.transition(caller, params.sessionId, { type, stepId: params.stepId, caller }),
      }),
    });

  return [
    defineRoute({
      method: 'post',
      path: '/onboarding/sessions',
      summary: 'Start onboarding',
      tags: ['sessions'],
      roles: WRITERS,
      body: empty,
      response: {
        status: 201,
        alsoStatus: [200],
        description: "201: the new session; 200: the tenant's live session, which already existed",
        schema: sessionViewSchema,
      },
      handler: async ({ caller }) => {
        const { view, created } = await sessions.start(caller);
        return { status: created ? 201 : 200, body: view };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/onboarding/sessions/current',
      summary: "Get the tenant's live session",
      tags: ['sessions'],
      roles: READERS,
      response: { status: 200, description: 'the active or paused session', schema: sessionViewSchema },
      errors: ['ONBOARDING_SESSION_NOT_FOUND'],
      handler: async ({ principal }) => ({ body: await sessions.current(principal.tenantId) }),
    }),
    defineRoute({
      method: 'get',
      path: '/onboarding/sessions/:sessionId',
      summary: 'Get a session',
      tags: ['sessions'],
      roles: READERS,
      params: sessionParamsSchema,
      response: { status: 200, description: 'status, step progress and step data', schema: sessionViewSchema },
      errors: ['ONBOARDING_SESSION_NOT_FOUND'],
      handler: async ({ params, principal }) => ({ body: await sessions.get(principal.tenantId, params.sessionId) }),
    }),
    defineRoute({
      method: 'get',
      path: '/onboarding/sessions/:sessionId/progress',
      summary: 'Get progress',
      tags: ['sessions'],
      roles: READERS,
      params: sessionParamsSchema,
      response: { status: 200, description: 'progress and the next recommended action', schema: progressSchema },
      errors: ['ONBOARDING_SESSION_NOT_FOUND'],
      handler: async ({ params, principal }) => ({ body: (await sessions.get(principal.tenantId, params.sessionId)).progress }),
    }),
    defineRoute({
      method: 'patch',
      path: '/onboarding/sessions/:sessionId/steps/:stepId',
      summary: 'Update step data',
      tags: ['steps'],
      roles: WRITERS,
      params: stepParamsSchema,
      body: stepPatchBodySchema,
      response: { status: 200, description: 'the step data after the (durable) edit', schema: stepWriteSchema },
      errors: ['ONBOARDING_SESSION_NOT_FOUND', 'CONFIGURATION_VALIDATION_FAILED', 'ONBOARDING_SESSION_NOT_ACTIVE', 'DOCUMENT_TOO_LARGE'],
      handler: async ({ params, body, caller }) => ({ body: await sessions.updateStep(caller, params.sessionId, params.stepId, body) }),
    }),
    stepTransition('Complete a step', '/onboarding/sessions/:sessionId/steps/:stepId/complete', 'completeStep', ['CONFIGURATION_VALIDATION_FAILED']),
    stepTransition('Skip a step', '/onboarding/sessions/:sessionId/steps/:stepId/skip', 'skipStep', []),
    transition('Pause onboarding', '/onboarding/sessions/:sessionId/pause', 'pause', ['ONBOARDING_SESSION_NOT_ACTIVE']),
    transition('Resume onboarding', '/onboarding/sessions/:sessionId/resume', 'resume', ['ONBOARDING_SESSION_NOT_ACTIVE']),
    transition('Complete onboarding', '/onboarding/sessions/:sessionId/complete', 'completeOnboarding', [
      'INVALID_STEP_TRANSITION',
      'ONBOARDING_SESSION_NOT_ACTIVE',
    ]),
    defineRoute({
      method: 'get',
      path: '/onboarding/steps',
      summary: 'List step configurations',
      tags: ['steps'],
      roles: READERS,
      response: { status: 200, description: 'every step in order', schema: stepConfigListSchema },
      handler: async () => ({ body: { steps: STEP_IDS.map(stepConfiguration) } }),
    }),
    defineRoute({
      method: 'get',
      path: '/onboarding/steps/:stepId',
      summary: 'Get a step configuration',
      tags: ['steps'],
      roles: READERS,
      params: stepIdParamsSchema,
      response: { status: 200, description: "the step's JSON schema, defaults and estimate", schema: stepConfigSchema },
      handler: async ({ params }) => ({ body: stepConfiguration(params.stepId) }),
    }),
    defineRoute({
      method: 'get',
      path: '/audit',
      summary: 'Read the audit log',
      tags: ['audit'],
      roles: WRITERS,
      query: auditQuerySchema,
      response: { status: 200, description: "the tenant's audit entries, newest first", schema: auditPageSchema },
      handler: async ({ query, principal }) => ({ body: await listAudit(db, principal.tenantId, query) }),
    }),
    defineRoute({
      method: 'get',
      path: '/events',
      summary: 'Read domain events',
      tags: ['events'],
      roles: WRITERS,
      query: eventsQuerySchema,
      response: { status: 200, description: "the tenant's outbox events, oldest first", schema: eventsPageSchema },
      handler: async ({ query, principal }) => ({ body: await listEvents(db, principal.tenantId, query) }),
    }),
  ];
}
