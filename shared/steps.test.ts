import { describe, it, expect } from '@jest/globals';
import { fieldIssues } from './errors.ts';
import { SAMPLE_STEP_DATA } from './sample-data.ts';
import { stepDataPatchSchema } from './step-machine.ts';
import { REQUIRED_STEP_IDS, STEPS, STEP_IDS, stepIdSchema, type StepId } from './steps.ts';

/** The failing paths when `data` is checked against a step's full schema ([] when valid). */
function failingPaths(stepId: StepId, data: unknown): string[] {
  const parsed = STEPS[stepId].schema.safeParse(data);
  return parsed.success ? [] : fieldIssues(parsed.error.issues).map((issue) => issue.path);
}

/** A copy of a step's sample data with some top-level fields replaced. */
function sample<K extends StepId>(stepId: K, changes: Record<string, unknown>): Record<string, unknown> {
  return { ...structuredClone(SAMPLE_STEP_DATA[stepId]), ...changes };
}

function valueAt(data: unknown, path: string): { value: unknown; crossesArray: boolean } {
  let value = data;
  let crossesArray = false;
  for (const key of path.split('.')) {
    if (Array.isArray(value)) crossesArray = true;
    value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  }
  return { value, crossesArray };
}

describe('step definitions', () => {
  it('lists the eleven steps in the order of the design', () => {
    expect(STEP_IDS).toEqual([
      'welcome',
      'organization_setup',
      'channel_configuration',
      'ai_configuration',
      'knowledge_base',
      'payment_setup',
      'team_management',
      'workflow_configuration',
      'customer_portal',
      'data_import',
      'analytics_setup',
    ]);
    expect(Object.keys(STEPS)).toEqual([...STEP_IDS]);
    for (const id of STEP_IDS) expect(STEPS[id].id).toBe(id);
  });

  it('requires exactly welcome, organization, channels, team and workflow', () => {
    expect(REQUIRED_STEP_IDS).toEqual(['welcome', 'organization_setup', 'channel_configuration', 'team_management', 'workflow_configuration']);
  });

  it('makes every dependency an earlier step, so the step order satisfies them', () => {
    for (const id of STEP_IDS) {
      for (const dep of STEPS[id].dependencies) expect(STEP_IDS.indexOf(dep)).toBeLessThan(STEP_IDS.indexOf(id));
    }
    expect(STEPS.workflow_configuration.dependencies).toEqual(['team_management', 'channel_configuration']);
    expect(STEPS.customer_portal.dependencies).toEqual(['organization_setup', 'knowledge_base']);
  });

  it('gives every step a positive whole-minute estimate', () => {
    for (const id of STEP_IDS) {
      expect(Number.isInteger(STEPS[id].estimatedMinutes)).toBe(true);
      expect(STEPS[id].estimatedMinutes).toBeGreaterThan(0);
    }
  });

  it('refuses an unknown step id', () => {
    expect(stepIdSchema.safeParse('complete').success).toBe(false);
    expect(stepIdSchema.safeParse('welcome').success).toBe(true);
  });
});

describe('step defaults', () => {
  it.each(STEP_IDS)("parses the defaults of %s with the step's patch schema", (id) => {
    const parsed = stepDataPatchSchema(id).safeParse(STEPS[id].defaults);
    expect(parsed.error?.issues).toBeUndefined();
  });

  it('freezes the defaults, so one session cannot change the next one', () => {
    const branding = STEPS.organization_setup.defaults['branding'] as Record<string, unknown>;
    expect(() => {
      branding['primaryColor'] = '#000000';
    }).toThrow(TypeError);
  });
});

describe('sample step data', () => {
  it.each(STEP_IDS)('is complete, valid data for %s', (id) => {
    expect(failingPaths(id, SAMPLE_STEP_DATA[id])).toEqual([]);
  });

  it.each(STEP_IDS)('is also a valid patch for %s', (id) => {
    expect(stepDataPatchSchema(id).safeParse(SAMPLE_STEP_DATA[id]).success).toBe(true);
  });
});

describe('long text fields', () => {
  it.each(STEP_IDS.filter((id) => STEPS[id].longTextFields.length > 0))('name string fields of %s outside arrays', (id) => {
    for (const path of STEPS[id].longTextFields) {
      const { value, crossesArray } = valueAt(SAMPLE_STEP_DATA[id], path);
      expect(typeof value).toBe('string');
      expect(crossesArray).toBe(false);
    }
  });

  it('are the email signature, the knowledge base introduction and the portal welcome text', () => {
    const all = STEP_IDS.flatMap((id) => STEPS[id].longTextFields.map((path) => `${id}:${path}`));
    expect(all).toEqual(['channel_configuration:email.signature', 'knowledge_base:introduction', 'customer_portal:welcomeText']);
  });

  it('may be empty, since collaborative editing starts from an empty text', () => {
    expect(failingPaths('knowledge_base', sample('knowledge_base', { introduction: '' }))).toEqual([]);
    expect(failingPaths('customer_portal', sample('customer_portal', { welcomeText: '' }))).toEqual([]);
  });

  it('are bounded', () => {
    expect(failingPaths('customer_portal', sample('customer_portal', { welcomeText: 'x'.repeat(5001) }))).toEqual(['welcomeText']);
  });
});

describe('step schemas', () => {
  it('refuse unknown keys at the top level and inside objects', () => {
    expect(failingPaths('organization_setup', sample('organization_setup', { plan: 'gold' }))).toEqual(['']);
    const branding = { ...SAMPLE_STEP_DATA.organization_setup.branding, favicon: 'x' };
    expect(failingPaths('organization_setup', sample('organization_setup', { branding }))).toEqual(['branding']);
    expect(stepDataPatchSchema('organization_setup').safeParse({ plan: 'gold' }).success).toBe(false);
  });

  it('bound strings, arrays and numbers, naming the field', () => {
    expect(failingPaths('organization_setup', sample('organization_setup', { name: 'x'.repeat(121) }))).toEqual(['name']);
    const invitations = Array.from({ length: 201 }, (_, i) => ({ email: `user${i}@example.com`, role: 'agent' }));
    expect(failingPaths('team_management', sample('team_management', { invitations }))).toEqual(['invitations']);
    expect(failingPaths('ai_configuration', sample('ai_configuration', { confidenceThreshold: 1.5 }))).toEqual(['confidenceThreshold']);
    expect(failingPaths('welcome', sample('welcome', { teamSize: 2.5 }))).toEqual(['teamSize']);
  });

  it('check formats: colours, URLs, time zones, currencies, subdomains', () => {
    const branding = { ...SAMPLE_STEP_DATA.organization_setup.branding, primaryColor: 'red' };
    expect(failingPaths('organization_setup', sample('organization_setup', { branding }))).toEqual(['branding.primaryColor']);
    expect(failingPaths('organization_setup', sample('organization_setup', { website: 'javascript:alert(1)' }))).toEqual(['website']);
    expect(failingPaths('organization_setup', sample('organization_setup', { timezone: 'Mars/Olympus Mons' }))).toEqual(['timezone']);
    const stripe = { ...SAMPLE_STEP_DATA.payment_setup.stripe, currency: 'euro' };
    expect(failingPaths('payment_setup', sample('payment_setup', { stripe }))).toEqual(['stripe.currency']);
    expect(failingPaths('customer_portal', sample('customer_portal', { subdomain: 'Acme_Portal' }))).toEqual(['subdomain']);
    expect(failingPaths('customer_portal', sample('customer_portal', { subdomain: 'admin' }))).toEqual(['subdomain']);
  });

  it('require the welcome terms to be accepted to complete, while a patch may untick them', () => {
    expect(failingPaths('welcome', sample('welcome', { acceptedTerms: false }))).toEqual(['acceptedTerms']);
    expect(stepDataPatchSchema('welcome').safeParse({ acceptedTerms: false }).success).toBe(true);
  });

  it('require at least one enabled channel, and the details of each enabled one', () => {
    expect(failingPaths('channel_configuration', { instagram: { enabled: false } })).toEqual(['']);
    expect(failingPaths('channel_configuration', { whatsapp: { enabled: true, displayName: 'Acme' } })).toEqual([
      'whatsapp.phoneNumberId',
      'whatsapp.businessAccountId',
    ]);
    const email = { enabled: true, provider: 'custom', address: 'help@acme.example', smtpHost: 'smtp.acme.example', smtpPort: 587 };
    expect(failingPaths('channel_configuration', { email })).toEqual(['email.imapHost', 'email.imapPort']);
    expect(failingPaths('channel_configuration', { email: { enabled: true, provider: 'gmail', address: 'help@acme.example' } })).toEqual([]);
  });

  it('accept a credential reference for a connection and refuse anything else there', () => {
    const whatsapp = { ...SAMPLE_STEP_DATA.channel_configuration.whatsapp, credentialRef: 'cred_0123456789abcdefXYZ' };
    expect(failingPaths('channel_configuration', sample('channel_configuration', { whatsapp }))).toEqual([]);
    const raw = { ...whatsapp, credentialRef: 'my-whatsapp-access-token' };
    expect(failingPaths('channel_configuration', sample('channel_configuration', { whatsapp: raw }))).toEqual(['whatsapp.credentialRef']);
  });

  it('require a base URL for an OpenAI-compatible AI provider', () => {
    const { baseUrl: _omitted, ...withoutUrl } = SAMPLE_STEP_DATA.ai_configuration;
    expect(failingPaths('ai_configuration', withoutUrl)).toEqual(['baseUrl']);
    expect(failingPaths('ai_configuration', { ...withoutUrl, provider: 'local' })).toEqual([]);
  });

  it('check cross references and duplicates inside a step', () => {
    const articles = [...SAMPLE_STEP_DATA.knowledge_base.articles, { id: 'warranty', title: 'Warranty', categoryId: 'nope', body: '' }];
    expect(failingPaths('knowledge_base', sample('knowledge_base', { articles }))).toEqual(['articles.2.categoryId']);
    const invitations = [...SAMPLE_STEP_DATA.team_management.invitations, { email: 'BOB@acme-outdoor.example', role: 'agent' }];
    expect(failingPaths('team_management', sample('team_management', { invitations }))).toEqual(['invitations.3.email']);
  });

  it('check business hours and SLA rules make sense', () => {
    const businessHours = { timezone: 'UTC', days: [{ day: 'mon', open: '17:00', close: '09:00' }] };
    expect(failingPaths('workflow_configuration', sample('workflow_configuration', { businessHours }))).toEqual(['businessHours.days.0.close']);
    const slaRules = [{ name: 'Odd', priority: 'high', firstResponseMinutes: 60, resolutionMinutes: 30 }];
    expect(failingPaths('workflow_configuration', sample('workflow_configuration', { slaRules }))).toEqual(['slaRules.0.resolutionMinutes']);
  });

  it('require an uploaded file for a CSV import', () => {
    expect(failingPaths('data_import', sample('data_import', { sources: [{ kind: 'csv' }] }))).toEqual(['sources.0.fileRef']);
  });
});
