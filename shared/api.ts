// The REST API's wire shapes, shared by the server (validation, OpenAPI) and clients.
import { z } from 'zod';
import { ROLES } from './auth.ts';
import { ERROR_STATUS } from './errors.ts';
import { machineStateSchema } from './step-machine.ts';
import { STEP_IDS, stepIdSchema } from './steps.ts';

const isoTime = z.iso.datetime({ offset: true });

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_STATUS) as [keyof typeof ERROR_STATUS, ...(keyof typeof ERROR_STATUS)[]]),
      message: z.string(),
      details: z
        .object({ issues: z.array(z.object({ path: z.string(), message: z.string() })).optional() })
        .catchall(z.unknown())
        .optional(),
    }),
  })
  .meta({ id: 'Error' });

export const sessionParamsSchema = z.object({ sessionId: z.uuid() });
export const stepParamsSchema = z.object({ sessionId: z.uuid(), stepId: stepIdSchema });
export const stepIdParamsSchema = z.object({ stepId: stepIdSchema });

export const sessionSchema = z
  .object({
    id: z.uuid(),
    tenantId: z.string(),
    status: machineStateSchema.shape.status,
    currentStep: machineStateSchema.shape.currentStep,
    steps: machineStateSchema.shape.steps,
    createdBy: z.string(),
    createdAt: isoTime,
    updatedAt: isoTime,
    lastActivityAt: isoTime,
    completedAt: isoTime.nullable(),
  })
  .meta({ id: 'OnboardingSession' });

export const progressSchema = z
  .object({
    totalSteps: z.int(),
    completedSteps: z.int(),
    currentStep: machineStateSchema.shape.currentStep,
    progressPercentage: z.int().min(0).max(100),
    estimatedTimeRemaining: z.int().describe('minutes'),
    estimateSource: z.enum(['measured', 'estimated', 'mixed']),
    nextRecommendedAction: z.object({
      action: z.enum(['complete_step', 'complete_onboarding', 'resume', 'none']),
      stepId: stepIdSchema.optional(),
      message: z.string(),
    }),
  })
  .meta({ id: 'Progress' });

export const stepDataMapSchema = z.object(
  Object.fromEntries(STEP_IDS.map((id) => [id, z.record(z.string(), z.unknown())])) as Record<
    (typeof STEP_IDS)[number],
    z.ZodRecord<z.ZodString, z.ZodUnknown>
  >,
);

export const sessionViewSchema = z
  .object({ session: sessionSchema, data: stepDataMapSchema, progress: progressSchema })
  .meta({ id: 'SessionView' });

export const stepWriteSchema = z
  .object({
    stepId: stepIdSchema,
    data: z.record(z.string(), z.unknown()),
    updateId: z.int().describe('position of the edit in the session update log; the edit is durable'),
  })
  .meta({ id: 'StepWrite' });

export const stepPatchBodySchema = z
  .record(z.string(), z.unknown())
  .describe("a JSON merge patch (RFC 7396) of the step's data: objects merge, null deletes; every field it touches is validated against the step schema");

export const stepConfigSchema = z
  .object({
    id: stepIdSchema,
    title: z.string(),
    description: z.string(),
    required: z.boolean(),
    estimatedMinutes: z.number(),
    dependencies: z.array(stepIdSchema),
    longTextFields: z.array(z.string()),
    defaults: z.record(z.string(), z.unknown()),
    schema: z.record(z.string(), z.unknown()).describe("JSON Schema (2020-12) of the step's data"),
  })
  .meta({ id: 'StepConfiguration' });

export const stepConfigListSchema = z.object({ steps: z.array(stepConfigSchema) });

const cursorLimit = {
  limit: z.coerce.number().int().min(1).max(200).default(50),
};

export const auditQuerySchema = z.strictObject({
  action: z.string().max(64).optional(),
  actorId: z.string().max(128).optional(),
  target: z.string().max(128).optional(),
  from: isoTime.optional(),
  to: isoTime.optional(),
  before: z.coerce.number().int().positive().optional().describe('cursor: entries with a smaller id'),
  ...cursorLimit,
});

export const auditPageSchema = z
  .object({
    entries: z.array(
      z.object({
        id: z.int(),
        actorId: z.string(),
        actorRole: z.enum([...ROLES, 'system']),
        action: z.string(),
        target: z.string(),
        before: z.record(z.string(), z.unknown()).nullable(),
        after: z.record(z.string(), z.unknown()).nullable(),
        requestId: z.string().nullable(),
        ip: z.string().nullable(),
        createdAt: isoTime,
      }),
    ),
    nextBefore: z.int().nullable(),
  })
  .meta({ id: 'AuditPage' });

export const eventsQuerySchema = z.strictObject({
  after: z.coerce.number().int().min(0).default(0).describe('cursor: events with a larger id'),
  type: z.string().max(128).optional(),
  ...cursorLimit,
});

export const eventsPageSchema = z
  .object({
    events: z.array(
      z.object({
        id: z.int(),
        topic: z.string(),
        type: z.string(),
        payload: z.record(z.string(), z.unknown()),
        createdAt: isoTime,
        publishedAt: isoTime.nullable(),
      }),
    ),
    nextAfter: z.int(),
  })
  .meta({ id: 'EventsPage' });
