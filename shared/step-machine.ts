// The onboarding step machine (DESIGN.md §4): pure transitions over a plain, JSON-serializable state.
// The session actor holds the state, applies a transition, persists the result and emits events;
// clients use the same functions to show what is allowed. Time always comes in as an argument, and
// transitions never throw and never mutate their input: a refused transition returns the seed's
// error code and changes nothing.
import { z } from 'zod';
import { fieldIssues, type FieldIssue } from './errors.ts';
import { findSecrets } from './secrets.ts';
import { STEPS, STEP_IDS, REQUIRED_STEP_IDS, stepIdSchema, type StepId } from './steps.ts';

export type SessionStatus = 'active' | 'paused' | 'completed' | 'abandoned';
export type StepStatus = 'pending' | 'in_progress' | 'completed' | 'skipped';
/** ISO 8601 times. */
export type StepState = { status: StepStatus; startedAt?: string; completedAt?: string };
export type MachineState = {
  status: SessionStatus;
  currentStep: StepId | 'complete';
  steps: Record<StepId, StepState>;
  /** When `completeOnboarding` succeeded (ISO 8601). */
  completedAt?: string;
};

export type TransitionErrorCode = 'INVALID_STEP_TRANSITION' | 'ONBOARDING_SESSION_NOT_ACTIVE' | 'CONFIGURATION_VALIDATION_FAILED';

export type TransitionError = {
  ok: false;
  code: TransitionErrorCode;
  message: string;
  details?: {
    issues?: FieldIssue[];
    /** Steps that must be done (completed, or skipped when optional) before this one. */
    missingSteps?: StepId[];
    status?: SessionStatus;
  };
};

export type TransitionResult =
  | { ok: true; state: MachineState; /** completeOnboarding on a completed session: emit nothing. */ alreadyCompleted?: true }
  | TransitionError;

const SESSION_STATUSES = ['active', 'paused', 'completed', 'abandoned'] as const;
const STEP_STATUSES = ['pending', 'in_progress', 'completed', 'skipped'] as const;

const isoTime = z.iso.datetime({ offset: true });
const stepStateSchema = z.strictObject({
  status: z.enum(STEP_STATUSES),
  startedAt: isoTime.optional(),
  completedAt: isoTime.optional(),
});

/** Parses a machine state read back from storage or the wire. */
export const machineStateSchema = z.strictObject({
  status: z.enum(SESSION_STATUSES),
  currentStep: z.union([stepIdSchema, z.literal('complete')]),
  steps: z.strictObject(Object.fromEntries(STEP_IDS.map((id) => [id, stepStateSchema])) as Record<StepId, typeof stepStateSchema>),
  completedAt: isoTime.optional(),
});

// ---------------------------------------------------------------------------------------------
// Step data validation

export type ValidationResult = { ok: true; data: Record<string, unknown> } | { ok: false; issues: FieldIssue[] };

// Built once per step: the schema of a partial update. Rebuilt from the shape rather than with
// `.partial()` because the full schemas carry completion rules (refinements) that a partial
// update cannot satisfy yet, and zod refuses `.partial()` on refined objects.
const PATCH_SCHEMAS: Record<StepId, z.ZodObject> = Object.fromEntries(
  STEP_IDS.map((id) => {
    const shape = Object.fromEntries(Object.entries(STEPS[id].schema.shape).map(([key, field]) => [key, z.optional(z.nullable(field))]));
    return [id, z.strictObject(shape)];
  }),
) as Record<StepId, z.ZodObject>;

/**
 * The schema of a partial update of a step's data, with JSON merge-patch semantics at the top
 * level: every key optional, `null` removes the field, any other value is validated in full
 * (nested objects and arrays are replaced whole), unknown keys are refused. Cross-field completion
 * rules (e.g. "at least one channel enabled") are checked only when the step is completed.
 */
export function stepDataPatchSchema(stepId: StepId): z.ZodObject {
  return PATCH_SCHEMAS[stepId];
}

function validateWith(schema: z.ZodType, data: unknown): ValidationResult {
  const parsed = schema.safeParse(data);
  // A pasted secret is refused even where the schema would accept its text (a name, a signature).
  const secretIssues = findSecrets(data).map(({ path, reason }) => ({ path, message: `${reason}: secrets never go into step data` }));
  if (!parsed.success) return { ok: false, issues: [...fieldIssues(parsed.error.issues), ...secretIssues] };
  if (secretIssues.length > 0) return { ok: false, issues: secretIssues };
  return { ok: true, data: parsed.data as Record<string, unknown> };
}

/** Validates a step's complete data, as `completeStep` does: schema, completion rules, no secrets. */
export function validateStepData(stepId: StepId, data: unknown): ValidationResult {
  return validateWith(STEPS[stepId].schema, data);
}

/** Validates a partial update of a step's data (REST patch, socket edit): patch schema, no secrets. */
export function validateStepPatch(stepId: StepId, patch: unknown): ValidationResult {
  return validateWith(PATCH_SCHEMAS[stepId], patch);
}

// ---------------------------------------------------------------------------------------------
// Transitions

const isDone = (step: StepState): boolean => step.status === 'completed' || step.status === 'skipped';

function fail(code: TransitionErrorCode, message: string, details?: TransitionError['details']): TransitionError {
  return details === undefined ? { ok: false, code, message } : { ok: false, code, message, details };
}

export function initialMachineState(now: string): MachineState {
  const steps = Object.fromEntries(STEP_IDS.map((id) => [id, { status: 'pending' }])) as Record<StepId, StepState>;
  steps.welcome = { status: 'in_progress', startedAt: now };
  return { status: 'active', currentStep: 'welcome', steps };
}

/** The first step neither completed nor skipped: where the admins have to work next. */
export function firstOpenStep(state: MachineState): StepId | 'complete' {
  return STEP_IDS.find((id) => !isDone(state.steps[id])) ?? 'complete';
}

function notActive(state: MachineState): TransitionError | undefined {
  if (state.status === 'active') return undefined;
  const message =
    state.status === 'completed' ? 'the onboarding is already completed' : `the onboarding session is ${state.status}; resume it first`;
  return fail('ONBOARDING_SESSION_NOT_ACTIVE', message, { status: state.status });
}

// Runtime guard: the type says StepId, but ids arrive from sockets and URLs.
function unknownStep(stepId: string): TransitionError | undefined {
  return Object.hasOwn(STEPS, stepId) ? undefined : fail('INVALID_STEP_TRANSITION', `unknown step "${stepId}"`);
}

/** No jumping ahead, and dependencies satisfied (completed, or skipped when optional). */
function blockedBy(state: MachineState, stepId: StepId): TransitionError | undefined {
  const before = STEP_IDS.slice(0, STEP_IDS.indexOf(stepId)).filter((id) => !isDone(state.steps[id]));
  if (before.length > 0) {
    return fail('INVALID_STEP_TRANSITION', `"${stepId}" cannot be reached yet: finish ${before.join(', ')} first`, { missingSteps: before });
  }
  const unmet = STEPS[stepId].dependencies.filter((dep) => {
    const status = state.steps[dep].status;
    return !(status === 'completed' || (status === 'skipped' && !STEPS[dep].required));
  });
  if (unmet.length > 0) {
    return fail('INVALID_STEP_TRANSITION', `"${stepId}" depends on ${unmet.join(', ')}`, { missingSteps: unmet });
  }
  return undefined;
}

/** Moves the cursor to the first open step and starts it if it was pending. */
function advance(state: MachineState, steps: Record<StepId, StepState>, now: string): MachineState {
  const next = STEP_IDS.find((id) => !isDone(steps[id]));
  if (next === undefined) return { ...state, steps, currentStep: 'complete' };
  const nextStep = steps[next];
  const started = nextStep.status === 'pending' ? { ...steps, [next]: { status: 'in_progress', startedAt: now } } : steps;
  return { ...state, steps: started, currentStep: next };
}

/**
 * Completes a step with its full data (validated here). Completing an already completed step
 * again (the admins went back and edited it) is allowed and keeps its original times, so the
 * measured duration stays that of the first pass.
 */
export function completeStep(state: MachineState, stepId: StepId, data: unknown, now: string): TransitionResult {
  const refused = notActive(state) ?? unknownStep(stepId) ?? blockedBy(state, stepId);
  if (refused) return refused;

  const validation = validateStepData(stepId, data);
  if (!validation.ok) {
    return fail('CONFIGURATION_VALIDATION_FAILED', `the data of "${stepId}" is not valid`, { issues: validation.issues });
  }

  const previous = state.steps[stepId];
  let completed: StepState;
  if (previous.status === 'completed') completed = previous;
  // Time spent on a step that was first skipped is unknown: no startedAt, no measured duration.
  else if (previous.status === 'skipped') completed = { status: 'completed', completedAt: now };
  else completed = { status: 'completed', startedAt: previous.startedAt ?? now, completedAt: now };

  return { ok: true, state: advance(state, { ...state.steps, [stepId]: completed }, now) };
}

/** Skips an optional step. Skipping it again is a no-op; a completed step cannot be skipped. */
export function skipStep(state: MachineState, stepId: StepId, now: string): TransitionResult {
  const refused = notActive(state) ?? unknownStep(stepId);
  if (refused) return refused;
  if (STEPS[stepId].required) return fail('INVALID_STEP_TRANSITION', `"${stepId}" is a required step and cannot be skipped`);
  const previous = state.steps[stepId];
  if (previous.status === 'completed') return fail('INVALID_STEP_TRANSITION', `"${stepId}" is completed and cannot be skipped`);
  if (previous.status === 'skipped') return { ok: true, state };
  const blocked = blockedBy(state, stepId);
  if (blocked) return blocked;

  const skipped: StepState = previous.startedAt === undefined ? { status: 'skipped' } : { status: 'skipped', startedAt: previous.startedAt };
  return { ok: true, state: advance(state, { ...state.steps, [stepId]: skipped }, now) };
}

/**
 * Moves the cursor: back to any completed or skipped step (to review or edit it; it stays done),
 * or to the first open step. Anything further ahead is jumping ahead.
 */
export function goToStep(state: MachineState, stepId: StepId, now: string): TransitionResult {
  const refused = notActive(state) ?? unknownStep(stepId);
  if (refused) return refused;
  const target = state.steps[stepId];
  if (!isDone(target)) {
    const blocked = blockedBy(state, stepId);
    if (blocked) return blocked;
  }
  const steps = target.status === 'pending' ? { ...state.steps, [stepId]: { status: 'in_progress', startedAt: now } } : state.steps;
  return { ok: true, state: { ...state, steps, currentStep: stepId } };
}

export function pause(state: MachineState): TransitionResult {
  const refused = notActive(state);
  if (refused) return refused;
  return { ok: true, state: { ...state, status: 'paused' } };
}

/** Resumes a paused session, or one abandoned for inactivity (the admins came back). */
export function resume(state: MachineState): TransitionResult {
  if (state.status === 'completed') return notActive(state) as TransitionError;
  if (state.status === 'active') return fail('INVALID_STEP_TRANSITION', 'the onboarding session is already active', { status: state.status });
  return { ok: true, state: { ...state, status: 'active' } };
}

/** Marks a session abandoned (the server decides when: no activity for a configured time). */
export function abandon(state: MachineState): TransitionResult {
  if (state.status === 'active' || state.status === 'paused') return { ok: true, state: { ...state, status: 'abandoned' } };
  return notActive(state) as TransitionError;
}

/**
 * Finishes the onboarding once every required step is completed; optional steps left open stay
 * as they are. Idempotent: on a completed session it answers `alreadyCompleted` and the caller
 * must not emit a second completion event.
 */
export function completeOnboarding(state: MachineState, now: string): TransitionResult {
  if (state.status === 'completed') return { ok: true, state, alreadyCompleted: true };
  const refused = notActive(state);
  if (refused) return refused;
  const missing = REQUIRED_STEP_IDS.filter((id) => state.steps[id].status !== 'completed');
  if (missing.length > 0) {
    return fail('INVALID_STEP_TRANSITION', `required steps are not completed: ${missing.join(', ')}`, { missingSteps: [...missing] });
  }
  return { ok: true, state: { ...state, status: 'completed', currentStep: 'complete', completedAt: now } };
}

// ---------------------------------------------------------------------------------------------
// Progress

export type NextAction = {
  action: 'complete_step' | 'complete_onboarding' | 'resume' | 'none';
  stepId?: StepId;
  message: string;
};

export type Progress = {
  totalSteps: number;
  /** Completed plus skipped. */
  completedSteps: number;
  currentStep: StepId | 'complete';
  /** Integer 0..100; 100 only once every step is done or the onboarding is completed. */
  progressPercentage: number;
  /** Minutes, integer: the steps not yet done. */
  estimatedTimeRemaining: number;
  /** Where the remaining estimate comes from; 'estimated' when nothing remains. */
  estimateSource: 'measured' | 'estimated' | 'mixed';
  nextRecommendedAction: NextAction;
};

/**
 * Progress of a session. `stepDurationsMinutes` holds the measured time per step (e.g. a median
 * over completed sessions) for the steps with enough history; the caller decides what "enough"
 * is, and a step without a usable measurement falls back to its estimate.
 */
export function computeProgress(state: MachineState, stepDurationsMinutes: Partial<Record<StepId, number>>): Progress {
  const totalSteps = STEP_IDS.length;
  const completedSteps = STEP_IDS.filter((id) => isDone(state.steps[id])).length;
  const finished = state.status === 'completed';
  const remaining = finished ? [] : STEP_IDS.filter((id) => !isDone(state.steps[id]));

  let minutes = 0;
  let measured = 0;
  for (const id of remaining) {
    const duration = stepDurationsMinutes[id];
    if (duration !== undefined && Number.isFinite(duration) && duration >= 0) {
      minutes += duration;
      measured += 1;
    } else {
      minutes += STEPS[id].estimatedMinutes;
    }
  }
  const estimateSource = measured === 0 ? 'estimated' : measured === remaining.length ? 'measured' : 'mixed';

  return {
    totalSteps,
    completedSteps,
    currentStep: state.currentStep,
    progressPercentage: finished ? 100 : Math.round((completedSteps / totalSteps) * 100),
    estimatedTimeRemaining: Math.round(minutes),
    estimateSource,
    nextRecommendedAction: nextAction(state),
  };
}

function nextAction(state: MachineState): NextAction {
  if (state.status === 'completed') return { action: 'none', message: 'The onboarding is complete.' };
  if (state.status !== 'active') return { action: 'resume', message: `The onboarding is ${state.status}: resume it to continue.` };
  const next = firstOpenStep(state);
  if (next === 'complete') return { action: 'complete_onboarding', message: 'Every step is done: complete the onboarding.' };
  const step = STEPS[next];
  const requiredLeft = REQUIRED_STEP_IDS.some((id) => state.steps[id].status !== 'completed');
  const message = step.required
    ? `Complete "${step.title}".`
    : requiredLeft
      ? `Complete "${step.title}", or skip it: it is optional.`
      : `Complete "${step.title}", or skip it: every required step is done, so you can also complete the onboarding now.`;
  return { action: 'complete_step', stepId: next, message };
}

/** Minutes between a step's start and completion, for the measured-duration statistics. */
export function durationMinutes(step: StepState): number | undefined {
  if (step.startedAt === undefined || step.completedAt === undefined) return undefined;
  const started = Date.parse(step.startedAt);
  const completed = Date.parse(step.completedAt);
  if (!Number.isFinite(started) || !Number.isFinite(completed) || completed < started) return undefined;
  return (completed - started) / 60_000;
}
