import { describe, it, expect } from '@jest/globals';
import { SAMPLE_STEP_DATA } from './sample-data.ts';
import {
  abandon,
  completeOnboarding,
  completeStep,
  computeProgress,
  durationMinutes,
  goToStep,
  initialMachineState,
  machineStateSchema,
  pause,
  resume,
  skipStep,
  stepDataPatchSchema,
  validateStepPatch,
  type MachineState,
  type TransitionResult,
} from './step-machine.ts';
import { STEPS, STEP_IDS, type StepId } from './steps.ts';

/** ISO time `minutes` after a fixed start. */
const at = (minutes: number): string => new Date(Date.UTC(2025, 0, 6, 9, 0) + minutes * 60_000).toISOString();

function stateOf(result: TransitionResult): MachineState {
  if (!result.ok) throw new Error(`transition refused: ${result.code} ${result.message}`);
  return result.state;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** A session where the given steps were completed in order with the sample data, one minute each. */
function completedThrough(last: StepId): MachineState {
  let state = initialMachineState(at(0));
  for (const [index, id] of STEP_IDS.slice(0, STEP_IDS.indexOf(last) + 1).entries()) {
    state = stateOf(completeStep(state, id, SAMPLE_STEP_DATA[id], at(index + 1)));
  }
  return state;
}

/** A session where every required step is completed and every optional one skipped. */
function requiredOnly(): MachineState {
  let state = initialMachineState(at(0));
  for (const id of STEP_IDS) {
    state = STEPS[id].required ? stateOf(completeStep(state, id, SAMPLE_STEP_DATA[id], at(1))) : stateOf(skipStep(state, id, at(1)));
  }
  return state;
}

describe('a new session', () => {
  it('starts active on welcome, in progress since now, every other step pending', () => {
    const state = initialMachineState(at(0));
    expect(state.status).toBe('active');
    expect(state.currentStep).toBe('welcome');
    expect(state.steps.welcome).toEqual({ status: 'in_progress', startedAt: at(0) });
    for (const id of STEP_IDS.slice(1)) expect(state.steps[id]).toEqual({ status: 'pending' });
  });
});

describe('the onboarding lifecycle', () => {
  it('goes through all eleven steps with valid data and completes', () => {
    let state = initialMachineState(at(0));
    STEP_IDS.forEach((id, index) => {
      expect(state.currentStep).toBe(id);
      state = stateOf(completeStep(state, id, SAMPLE_STEP_DATA[id], at(index + 1)));
      expect(state.steps[id]).toEqual({ status: 'completed', startedAt: at(index), completedAt: at(index + 1) });
      const next = STEP_IDS[index + 1];
      if (next) expect(state.steps[next]).toEqual({ status: 'in_progress', startedAt: at(index + 1) });
    });
    expect(state.currentStep).toBe('complete');
    expect(state.status).toBe('active');

    const done = completeOnboarding(state, at(20));
    expect(done).toEqual({ ok: true, state: { ...state, status: 'completed', currentStep: 'complete', completedAt: at(20) } });
  });

  it('completes with only the required steps done, optional ones skipped', () => {
    const state = stateOf(completeOnboarding(requiredOnly(), at(5)));
    expect(state.status).toBe('completed');
  });

  it('never changes the state it is given', () => {
    const state = deepFreeze(completedThrough('channel_configuration'));
    const snapshot = JSON.stringify(state);
    completeStep(state, 'ai_configuration', SAMPLE_STEP_DATA.ai_configuration, at(9));
    completeStep(state, 'welcome', SAMPLE_STEP_DATA.welcome, at(9));
    skipStep(state, 'ai_configuration', at(9));
    goToStep(state, 'welcome', at(9));
    pause(state);
    abandon(state);
    completeOnboarding(state, at(9));
    computeProgress(state, {});
    expect(JSON.stringify(state)).toBe(snapshot);
  });

  it('produces states that survive a JSON round trip through the state schema', () => {
    const state = stateOf(completeOnboarding(requiredOnly(), at(5)));
    const parsed: MachineState = machineStateSchema.parse(JSON.parse(JSON.stringify(state)));
    expect(parsed).toEqual(state);
    expect(machineStateSchema.safeParse({ ...state, currentStep: 'nowhere' }).success).toBe(false);
  });
});

describe('completing a step', () => {
  it('refuses to jump ahead, naming the steps still to do', () => {
    const result = completeStep(initialMachineState(at(0)), 'knowledge_base', SAMPLE_STEP_DATA.knowledge_base, at(1));
    expect(result).toMatchObject({
      ok: false,
      code: 'INVALID_STEP_TRANSITION',
      details: { missingSteps: ['welcome', 'organization_setup', 'channel_configuration', 'ai_configuration'] },
    });
  });

  it('refuses invalid data with the failing field paths', () => {
    const data = {
      ...SAMPLE_STEP_DATA.organization_setup,
      website: 'not a url',
      branding: { ...SAMPLE_STEP_DATA.organization_setup.branding, primaryColor: 'blue' },
    };
    const result = completeStep(completedThrough('welcome'), 'organization_setup', data, at(2));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe('CONFIGURATION_VALIDATION_FAILED');
    expect(result.details?.issues?.map((issue) => issue.path)).toEqual(['website', 'branding.primaryColor']);
  });

  it('refuses data missing a required field', () => {
    const { name: _name, ...data } = SAMPLE_STEP_DATA.organization_setup;
    const result = completeStep(completedThrough('welcome'), 'organization_setup', data, at(2));
    expect(result).toMatchObject({ ok: false, code: 'CONFIGURATION_VALIDATION_FAILED', details: { issues: [{ path: 'name' }] } });
  });

  it('refuses data holding a pasted secret, even where the schema accepts the text', () => {
    const email = { ...SAMPLE_STEP_DATA.channel_configuration.email, signature: ['Thanks!', 'sk_', 'live_', 'a'.repeat(24)].join('') };
    const data = { ...SAMPLE_STEP_DATA.channel_configuration, email };
    const result = completeStep(completedThrough('organization_setup'), 'channel_configuration', data, at(3));
    expect(result).toMatchObject({ ok: false, code: 'CONFIGURATION_VALIDATION_FAILED', details: { issues: [{ path: 'email.signature' }] } });
  });

  it('allows re-completing a completed step, keeping its first times and the cursor on the first open step', () => {
    const state = completedThrough('channel_configuration');
    const welcome = { ...SAMPLE_STEP_DATA.welcome, teamSize: 40 };
    const again = stateOf(completeStep(state, 'welcome', welcome, at(30)));
    expect(again.steps.welcome).toEqual(state.steps.welcome);
    expect(again.currentStep).toBe('ai_configuration');
  });

  it('still validates the data when re-completing', () => {
    const result = completeStep(completedThrough('organization_setup'), 'welcome', { ...SAMPLE_STEP_DATA.welcome, acceptedTerms: false }, at(9));
    expect(result).toMatchObject({ ok: false, code: 'CONFIGURATION_VALIDATION_FAILED', details: { issues: [{ path: 'acceptedTerms' }] } });
  });

  it('allows completing a skipped optional step later, without a measured duration', () => {
    const skipped = stateOf(skipStep(completedThrough('channel_configuration'), 'ai_configuration', at(4)));
    const filled = stateOf(completeStep(skipped, 'ai_configuration', SAMPLE_STEP_DATA.ai_configuration, at(10)));
    expect(filled.steps.ai_configuration).toEqual({ status: 'completed', completedAt: at(10) });
    expect(durationMinutes(filled.steps.ai_configuration)).toBeUndefined();
    expect(filled.currentStep).toBe('knowledge_base');
  });

  it('refuses an unknown step id without throwing', () => {
    const result = completeStep(initialMachineState(at(0)), 'nowhere' as StepId, {}, at(1));
    expect(result).toMatchObject({ ok: false, code: 'INVALID_STEP_TRANSITION' });
  });
});

describe('skipping a step', () => {
  it('refuses to skip a required step', () => {
    const result = skipStep(completedThrough('welcome'), 'organization_setup', at(2));
    expect(result).toMatchObject({ ok: false, code: 'INVALID_STEP_TRANSITION', message: expect.stringMatching(/required step/) });
  });

  it('skips an optional step and moves on to the next one', () => {
    const state = stateOf(skipStep(completedThrough('channel_configuration'), 'ai_configuration', at(4)));
    expect(state.steps.ai_configuration).toEqual({ status: 'skipped', startedAt: at(3) });
    expect(state.currentStep).toBe('knowledge_base');
    expect(state.steps.knowledge_base).toEqual({ status: 'in_progress', startedAt: at(4) });
  });

  it('refuses to skip ahead of the open steps', () => {
    const result = skipStep(completedThrough('welcome'), 'payment_setup', at(2));
    expect(result).toMatchObject({ ok: false, code: 'INVALID_STEP_TRANSITION', details: { missingSteps: ['organization_setup', 'channel_configuration', 'ai_configuration', 'knowledge_base'] } });
  });

  it('refuses to skip a completed step, and skipping a skipped one changes nothing', () => {
    const state = completedThrough('ai_configuration');
    expect(skipStep(state, 'ai_configuration', at(9))).toMatchObject({ ok: false, code: 'INVALID_STEP_TRANSITION' });
    const skipped = stateOf(skipStep(state, 'knowledge_base', at(9)));
    expect(skipStep(skipped, 'knowledge_base', at(10))).toEqual({ ok: true, state: skipped });
  });

  it('satisfies a dependency on an optional step by skipping it', () => {
    let state = stateOf(skipStep(completedThrough('ai_configuration'), 'knowledge_base', at(5)));
    state = stateOf(skipStep(state, 'payment_setup', at(5)));
    state = stateOf(completeStep(state, 'team_management', SAMPLE_STEP_DATA.team_management, at(6)));
    state = stateOf(completeStep(state, 'workflow_configuration', SAMPLE_STEP_DATA.workflow_configuration, at(7)));
    state = stateOf(completeStep(state, 'customer_portal', SAMPLE_STEP_DATA.customer_portal, at(8)));
    expect(state.steps.customer_portal.status).toBe('completed');
  });
});

describe('navigating between steps', () => {
  it('goes back to a completed step, which stays completed', () => {
    const state = completedThrough('organization_setup');
    const back = stateOf(goToStep(state, 'welcome', at(9)));
    expect(back.currentStep).toBe('welcome');
    expect(back.steps).toEqual(state.steps);
  });

  it('goes forward again to the first open step', () => {
    const state = stateOf(goToStep(completedThrough('organization_setup'), 'welcome', at(9)));
    const forward = stateOf(goToStep(state, 'channel_configuration', at(10)));
    expect(forward.currentStep).toBe('channel_configuration');
    expect(forward.steps.channel_configuration).toEqual({ status: 'in_progress', startedAt: at(2) });
  });

  it('refuses to go further than the first open step', () => {
    const result = goToStep(completedThrough('organization_setup'), 'ai_configuration', at(9));
    expect(result).toMatchObject({ ok: false, code: 'INVALID_STEP_TRANSITION', details: { missingSteps: ['channel_configuration'] } });
  });
});

describe('session status', () => {
  it('pauses an active session and refuses step changes until it is resumed', () => {
    const state = completedThrough('welcome');
    const paused = stateOf(pause(state));
    expect(paused.status).toBe('paused');
    expect(completeStep(paused, 'organization_setup', SAMPLE_STEP_DATA.organization_setup, at(2))).toMatchObject({
      ok: false,
      code: 'ONBOARDING_SESSION_NOT_ACTIVE',
    });
    expect(pause(paused)).toMatchObject({ ok: false, code: 'ONBOARDING_SESSION_NOT_ACTIVE' });
    const resumed = stateOf(resume(paused));
    expect(resumed).toEqual(state);
    expect(completeStep(resumed, 'organization_setup', SAMPLE_STEP_DATA.organization_setup, at(2)).ok).toBe(true);
  });

  it('refuses to resume a session that is already active', () => {
    expect(resume(initialMachineState(at(0)))).toMatchObject({ ok: false, code: 'INVALID_STEP_TRANSITION' });
  });

  it('abandons an active or paused session, and resumes an abandoned one', () => {
    const state = completedThrough('welcome');
    const abandoned = stateOf(abandon(state));
    expect(abandoned.status).toBe('abandoned');
    expect(stateOf(abandon(stateOf(pause(state)))).status).toBe('abandoned');
    expect(abandon(abandoned)).toMatchObject({ ok: false, code: 'ONBOARDING_SESSION_NOT_ACTIVE' });
    expect(stateOf(resume(abandoned))).toEqual(state);
  });

  it('refuses to complete the onboarding while required steps are not completed', () => {
    const state = stateOf(skipStep(completedThrough('channel_configuration'), 'ai_configuration', at(4)));
    expect(completeOnboarding(state, at(5))).toMatchObject({
      ok: false,
      code: 'INVALID_STEP_TRANSITION',
      details: { missingSteps: ['team_management', 'workflow_configuration'] },
    });
  });

  it('completes the onboarding once: a second call answers alreadyCompleted with the same state', () => {
    const done = stateOf(completeOnboarding(requiredOnly(), at(5)));
    const again = completeOnboarding(done, at(6));
    expect(again).toEqual({ ok: true, state: done, alreadyCompleted: true });
  });

  it('refuses every other transition on a completed session', () => {
    const done = stateOf(completeOnboarding(requiredOnly(), at(5)));
    const results = [
      completeStep(done, 'welcome', SAMPLE_STEP_DATA.welcome, at(6)),
      skipStep(done, 'ai_configuration', at(6)),
      goToStep(done, 'welcome', at(6)),
      pause(done),
      resume(done),
      abandon(done),
    ];
    for (const result of results) expect(result).toMatchObject({ ok: false, code: 'ONBOARDING_SESSION_NOT_ACTIVE' });
  });
});

describe('progress', () => {
  const allEstimates = STEP_IDS.reduce((sum, id) => sum + STEPS[id].estimatedMinutes, 0);

  it('starts at zero with the sum of the step estimates and the first step next', () => {
    const progress = computeProgress(initialMachineState(at(0)), {});
    expect(progress).toEqual({
      totalSteps: 11,
      completedSteps: 0,
      currentStep: 'welcome',
      progressPercentage: 0,
      estimatedTimeRemaining: allEstimates,
      estimateSource: 'estimated',
      nextRecommendedAction: { action: 'complete_step', stepId: 'welcome', message: expect.any(String) },
    });
  });

  it('counts skipped steps as done and rounds the percentage', () => {
    const state = stateOf(skipStep(completedThrough('channel_configuration'), 'ai_configuration', at(4)));
    const progress = computeProgress(state, {});
    expect(progress.completedSteps).toBe(4);
    expect(progress.progressPercentage).toBe(36); // 4 / 11 = 36.4 %
    const doneSteps = ['welcome', 'organization_setup', 'channel_configuration', 'ai_configuration'] as const;
    expect(progress.estimatedTimeRemaining).toBe(allEstimates - doneSteps.reduce((sum, id) => sum + STEPS[id].estimatedMinutes, 0));
  });

  it('uses measured durations for every remaining step when all are given', () => {
    const measured = Object.fromEntries(STEP_IDS.map((id) => [id, 2.25])) as Record<StepId, number>;
    const progress = computeProgress(completedThrough('welcome'), measured);
    expect(progress.estimateSource).toBe('measured');
    expect(progress.estimatedTimeRemaining).toBe(23); // 10 × 2.25 = 22.5, rounded
  });

  it('mixes measured durations and estimates when only some are given', () => {
    const progress = computeProgress(completedThrough('welcome'), { organization_setup: 1, analytics_setup: 0 });
    const rest = STEP_IDS.slice(1).reduce((sum, id) => sum + STEPS[id].estimatedMinutes, 0);
    expect(progress.estimateSource).toBe('mixed');
    expect(progress.estimatedTimeRemaining).toBe(rest - STEPS.organization_setup.estimatedMinutes - STEPS.analytics_setup.estimatedMinutes + 1);
  });

  it('ignores measurements of steps already done, and unusable ones', () => {
    const state = completedThrough('welcome');
    expect(computeProgress(state, { welcome: 99 }).estimateSource).toBe('estimated');
    expect(computeProgress(state, { organization_setup: Number.NaN, channel_configuration: -3 }).estimateSource).toBe('estimated');
  });

  it('recommends skipping or finishing once only optional steps remain', () => {
    const state = completedThrough('workflow_configuration');
    const action = computeProgress(state, {}).nextRecommendedAction;
    expect(action).toMatchObject({ action: 'complete_step', stepId: 'customer_portal' });
    expect(action.message).toMatch(/skip/);
    expect(action.message).toMatch(/complete the onboarding/);
  });

  it('recommends completing the onboarding when every step is done', () => {
    const progress = computeProgress(completedThrough('analytics_setup'), {});
    expect(progress).toMatchObject({ completedSteps: 11, progressPercentage: 100, estimatedTimeRemaining: 0, currentStep: 'complete' });
    expect(progress.nextRecommendedAction.action).toBe('complete_onboarding');
  });

  it('recommends resuming a paused or abandoned session', () => {
    const state = completedThrough('welcome');
    expect(computeProgress(stateOf(pause(state)), {}).nextRecommendedAction.action).toBe('resume');
    expect(computeProgress(stateOf(abandon(state)), {}).nextRecommendedAction.action).toBe('resume');
  });

  it('is complete at 100 % with nothing left once the onboarding is completed, even with optional steps open', () => {
    let state = completedThrough('workflow_configuration');
    state = stateOf(completeOnboarding(state, at(9)));
    const progress = computeProgress(state, {});
    expect(progress).toMatchObject({ progressPercentage: 100, estimatedTimeRemaining: 0, currentStep: 'complete' });
    expect(progress.nextRecommendedAction.action).toBe('none');
  });
});

describe('durationMinutes', () => {
  it('measures the minutes between start and completion', () => {
    expect(durationMinutes({ status: 'completed', startedAt: at(0), completedAt: at(1.5) })).toBe(1.5);
  });

  it('has no answer without both times, or with times out of order', () => {
    expect(durationMinutes({ status: 'in_progress', startedAt: at(0) })).toBeUndefined();
    expect(durationMinutes({ status: 'completed', completedAt: at(1) })).toBeUndefined();
    expect(durationMinutes({ status: 'completed', startedAt: at(5), completedAt: at(1) })).toBeUndefined();
    expect(durationMinutes({ status: 'completed', startedAt: 'yesterday', completedAt: at(1) })).toBeUndefined();
  });
});

describe('step data patches', () => {
  it('accept some fields, each validated in full', () => {
    const schema = stepDataPatchSchema('organization_setup');
    expect(schema.safeParse({ name: 'Acme' }).success).toBe(true);
    const bad = schema.safeParse({ branding: { primaryColor: '#000000' } });
    expect(bad.error?.issues.map((issue) => issue.path.join('.'))).toEqual(['branding.secondaryColor', 'branding.fontFamily']);
  });

  it('accept null to remove a field, and refuse unknown fields', () => {
    const schema = stepDataPatchSchema('organization_setup');
    expect(schema.safeParse({ website: null, name: null }).success).toBe(true);
    expect(schema.safeParse({ nickname: 'x' }).success).toBe(false);
  });

  it('refuse a secret with its path when validated for the server', () => {
    const result = validateStepPatch('channel_configuration', { email: { ...SAMPLE_STEP_DATA.channel_configuration.email, password: 'hunter2' } });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((issue) => issue.path)).toEqual(['email', 'email.password']);
  });
});
