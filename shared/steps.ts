// The 11 onboarding steps: order, metadata, and the zod schema of each step's data (DESIGN.md §4).
// Shared by the server (validation, Yjs layout) and clients (forms, progress). Pure: no I/O.
//
// Every schema is strict (unknown keys refused) and bounded (string lengths, array sizes, number
// ranges), because step data ends up in a Yjs document replicated to every admin and agent, and
// the document has a size limit. Secrets are never part of step data: connections carry a
// `credentialRef` issued by the integration settings (shared/secrets.ts).
import { z } from 'zod';
import { credentialRefSchema } from './secrets.ts';

export const STEP_IDS = [
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
] as const;

export type StepId = (typeof STEP_IDS)[number];
export const stepIdSchema = z.enum(STEP_IDS);

// ---------------------------------------------------------------------------------------------
// Field building blocks

const text = (max: number) => z.string().min(1, 'must not be empty').max(max);
/** Long collaborative text (a Y.Text on the server): may be empty, since editing starts from "". */
const longText = (max: number) => z.string().max(max);
const hexColor = z.string().regex(/^#[0-9A-Fa-f]{6}$/, 'must be a colour as #RRGGBB');
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2048);
const email = z.email().max(254);
const timezone = z
  .string()
  .max(64)
  .regex(/^(?:UTC|GMT|[A-Z][A-Za-z_]+(?:\/[A-Za-z0-9_+-]+){1,2})$/, 'must be an IANA time zone such as Europe/Paris');
const locale = z
  .string()
  .max(35)
  .regex(/^[a-z]{2,3}(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|[0-9]{3}))?$/, 'must be a locale such as en or pt-BR');
const hostname = z
  .string()
  .max(253)
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/, 'must be a host name');
const port = z.int().min(1).max(65535);
/** Short identifier chosen by the admin (category ids, etc.): safe in URLs and Yjs keys. */
const slugId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, - and _, at most 64');
const numericId = z.string().regex(/^[0-9]{5,20}$/, 'must be a numeric id from Meta Business');
const clockTime = z.string().regex(/^(?:[01][0-9]|2[0-3]):[0-5][0-9]$/, 'must be a time as HH:MM');
/** A file uploaded through the server's upload endpoint (never the file content itself). */
const fileRef = z.string().regex(/^file_[A-Za-z0-9]{16,64}$/, 'must be a file reference (file_…) from an upload');

/** Adds an issue at each of `keys` that has no value (for fields required only in some cases). */
function requireFields(value: Record<string, unknown>, keys: readonly string[], why: string, ctx: z.RefinementCtx): void {
  for (const key of keys) {
    if (value[key] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: `required ${why}` });
  }
}

/** Adds an issue at each repeated key after the first (ids, emails, days). */
function requireUnique<T>(items: readonly T[], keyOf: (item: T) => string, path: (index: number) => PropertyKey[], what: string, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  items.forEach((item, index) => {
    const key = keyOf(item);
    if (seen.has(key)) ctx.addIssue({ code: 'custom', path: path(index), message: `duplicate ${what} "${key}"` });
    seen.add(key);
  });
}

// ---------------------------------------------------------------------------------------------
// Step schemas

const welcomeSchema = z
  .strictObject({
    adminRole: z.enum(['founder', 'support_manager', 'operations', 'it_admin', 'other']),
    goals: z
      .array(
        z.enum([
          'centralize_channels',
          'automate_with_ai',
          'faster_responses',
          'self_service_portal',
          'collect_payments',
          'migrate_from_other_tool',
          'measure_performance',
        ]),
      )
      .min(1, 'choose at least one goal')
      .max(7),
    teamSize: z.int().min(1).max(100_000),
    acceptedTerms: z.boolean(),
  })
  // A boolean in the shape (so the checkbox can be unticked while editing), true to complete.
  .superRefine((value, ctx) => {
    if (!value.acceptedTerms) ctx.addIssue({ code: 'custom', path: ['acceptedTerms'], message: 'the terms must be accepted' });
  });

const organizationSetupSchema = z.strictObject({
  name: text(120),
  industry: z.enum(['ecommerce', 'saas', 'finance', 'healthcare', 'education', 'travel', 'telecom', 'logistics', 'public_sector', 'other']),
  size: z.enum(['1-10', '11-50', '51-200', '201-1000', '1001+']),
  timezone,
  locale,
  website: httpUrl.optional(),
  branding: z.strictObject({
    // Optional: the logo is uploaded separately and may come later.
    logoUrl: httpUrl.optional(),
    primaryColor: hexColor,
    secondaryColor: hexColor,
    // Restricted to a plain family name: it is interpolated into the portal's CSS.
    fontFamily: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 -]{0,63}$/, 'must be a font family name'),
  }),
});

const whatsappChannelSchema = z
  .strictObject({
    enabled: z.boolean(),
    phoneNumberId: numericId.optional(),
    businessAccountId: numericId.optional(),
    displayName: text(100).optional(),
    credentialRef: credentialRefSchema.optional(),
  })
  .superRefine((value, ctx) => {
    if (value.enabled) requireFields(value, ['phoneNumberId', 'businessAccountId', 'displayName'], 'when WhatsApp is enabled', ctx);
  });

const instagramChannelSchema = z
  .strictObject({
    enabled: z.boolean(),
    pageId: numericId.optional(),
    username: z.string().regex(/^[A-Za-z0-9._]{1,30}$/, 'must be an Instagram username').optional(),
    credentialRef: credentialRefSchema.optional(),
  })
  .superRefine((value, ctx) => {
    if (value.enabled) requireFields(value, ['pageId', 'username'], 'when Instagram is enabled', ctx);
  });

const emailChannelSchema = z
  .strictObject({
    enabled: z.boolean(),
    provider: z.enum(['gmail', 'outlook', 'custom']),
    address: email,
    // Gmail and Outlook connect through OAuth with well-known hosts; only custom needs them.
    smtpHost: hostname.optional(),
    smtpPort: port.optional(),
    imapHost: hostname.optional(),
    imapPort: port.optional(),
    credentialRef: credentialRefSchema.optional(),
    signature: longText(2000).optional(),
  })
  .superRefine((value, ctx) => {
    if (value.enabled && value.provider === 'custom') {
      requireFields(value, ['smtpHost', 'smtpPort', 'imapHost', 'imapPort'], 'for a custom email provider', ctx);
    }
  });

const channelConfigurationSchema = z
  .strictObject({
    whatsapp: whatsappChannelSchema.optional(),
    instagram: instagramChannelSchema.optional(),
    email: emailChannelSchema.optional(),
  })
  // A helpdesk without a single inbound channel receives no tickets: the step is required for that.
  .superRefine((value, ctx) => {
    if (!value.whatsapp?.enabled && !value.instagram?.enabled && !value.email?.enabled) {
      ctx.addIssue({ code: 'custom', path: [], message: 'enable at least one channel (whatsapp, instagram or email)' });
    }
  });

const aiConfigurationSchema = z
  .strictObject({
    features: z.strictObject({
      ticketClassification: z.boolean(),
      sentimentAnalysis: z.boolean(),
      languageDetection: z.boolean(),
      replySuggestions: z.boolean(),
    }),
    provider: z.enum(['local', 'openai_compatible']),
    model: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$/, 'must be a model name such as llama3.1:8b'),
    baseUrl: httpUrl.optional(),
    confidenceThreshold: z.number().min(0).max(1),
    credentialRef: credentialRefSchema.optional(),
  })
  .superRefine((value, ctx) => {
    if (value.provider === 'openai_compatible') requireFields(value, ['baseUrl'], 'for an OpenAI-compatible provider', ctx);
  });

// Article bodies are bounded plain strings, not Y.Text: long-text fields are object fields outside
// arrays (a Y.Text per array item would make reordering articles a structural edit). Bulk content
// comes in through `importFromUrl`, so the inline article set stays small.
const knowledgeBaseSchema = z
  .strictObject({
    introduction: longText(10_000),
    categories: z.array(z.strictObject({ id: slugId, name: text(80) })).max(50),
    articles: z.array(z.strictObject({ id: slugId, title: text(200), categoryId: slugId, body: z.string().max(5000) })).max(50),
    importFromUrl: httpUrl.optional(),
  })
  .superRefine((value, ctx) => {
    requireUnique(value.categories, (c) => c.id, (i) => ['categories', i, 'id'], 'category id', ctx);
    requireUnique(value.articles, (a) => a.id, (i) => ['articles', i, 'id'], 'article id', ctx);
    const categoryIds = new Set(value.categories.map((c) => c.id));
    value.articles.forEach((article, i) => {
      if (!categoryIds.has(article.categoryId)) {
        ctx.addIssue({ code: 'custom', path: ['articles', i, 'categoryId'], message: `no category "${article.categoryId}"` });
      }
    });
  });

const paymentSetupSchema = z.strictObject({
  stripe: z.strictObject({
    // The connected Stripe account, as the reference the integration settings issued when it was
    // connected (the account's keys stay there).
    accountRef: credentialRefSchema.optional(),
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 currency code such as EUR'),
    plans: z
      .array(
        z.strictObject({
          name: text(80),
          amount: z.int().min(0).max(100_000_000), // in the currency's minor unit (cents)
          interval: z.enum(['month', 'year']),
        }),
      )
      .max(20),
  }),
  billingEmail: email,
});

const TEAM_ROLES = ['owner', 'admin', 'agent', 'viewer'] as const;

const teamManagementSchema = z
  .strictObject({
    invitations: z.array(z.strictObject({ email, role: z.enum(TEAM_ROLES), name: text(120).optional() })).max(200),
    departments: z.array(text(80)).max(50),
  })
  .superRefine((value, ctx) => {
    requireUnique(value.invitations, (inv) => inv.email.toLowerCase(), (i) => ['invitations', i, 'email'], 'invitation', ctx);
    requireUnique(value.departments, (d) => d.toLowerCase(), (i) => ['departments', i], 'department', ctx);
  });

const WEEK_DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const THIRTY_DAYS_MINUTES = 30 * 24 * 60;
const NINETY_DAYS_MINUTES = 90 * 24 * 60;

const slaRuleSchema = z
  .strictObject({
    name: text(80),
    priority: z.enum(['low', 'normal', 'high', 'urgent']),
    firstResponseMinutes: z.int().min(1).max(THIRTY_DAYS_MINUTES),
    resolutionMinutes: z.int().min(1).max(NINETY_DAYS_MINUTES),
  })
  .superRefine((rule, ctx) => {
    if (rule.resolutionMinutes < rule.firstResponseMinutes) {
      ctx.addIssue({ code: 'custom', path: ['resolutionMinutes'], message: 'must not be shorter than firstResponseMinutes' });
    }
  });

const escalationRuleSchema = z.strictObject({
  name: text(80),
  afterMinutes: z.int().min(1).max(THIRTY_DAYS_MINUTES),
  escalateTo: z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('email'), email }),
    z.strictObject({ type: z.literal('team'), team: text(80) }),
  ]),
  condition: z.enum(['no_first_response', 'sla_breach_risk', 'unresolved', 'negative_sentiment', 'urgent_priority']),
});

const businessHoursSchema = z
  .strictObject({
    timezone,
    days: z.array(z.strictObject({ day: z.enum(WEEK_DAYS), open: clockTime, close: clockTime })).max(7),
  })
  .superRefine((hours, ctx) => {
    requireUnique(hours.days, (d) => d.day, (i) => ['days', i, 'day'], 'day', ctx);
    hours.days.forEach((d, i) => {
      // Zero-padded HH:MM strings compare in time order.
      if (d.close <= d.open) ctx.addIssue({ code: 'custom', path: ['days', i, 'close'], message: 'must be after open' });
    });
  });

const workflowConfigurationSchema = z.strictObject({
  slaRules: z.array(slaRuleSchema).max(20),
  escalationRules: z.array(escalationRuleSchema).max(20),
  businessHours: businessHoursSchema,
  autoAssignment: z.enum(['round_robin', 'load_balanced', 'skill_based', 'manual']),
});

const RESERVED_SUBDOMAINS = new Set(['www', 'api', 'app', 'admin', 'mail', 'status', 'help', 'support']);

const customerPortalSchema = z.strictObject({
  subdomain: z
    .string()
    .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a DNS label: lower-case letters, digits and -, at most 63')
    .refine((label) => !RESERVED_SUBDOMAINS.has(label), 'this subdomain is reserved'),
  theme: z.strictObject({ primaryColor: hexColor, logoUrl: httpUrl.optional() }),
  welcomeText: longText(5000),
  features: z.strictObject({
    knowledgeBase: z.boolean(),
    ticketSubmission: z.boolean(),
    ticketTracking: z.boolean(),
    chat: z.boolean(),
  }),
});

const dataImportSchema = z.strictObject({
  sources: z
    .array(
      z
        .strictObject({
          kind: z.enum(['csv', 'zendesk', 'freshdesk', 'hubspot']),
          fileRef: fileRef.optional(),
          credentialRef: credentialRefSchema.optional(),
          status: z.enum(['pending', 'validating', 'importing', 'completed', 'failed']).optional(),
        })
        .superRefine((source, ctx) => {
          if (source.kind === 'csv') requireFields(source, ['fileRef'], 'for a CSV import', ctx);
        }),
    )
    .max(10),
  // Source column → Glavito field.
  fieldMapping: z
    .record(z.string().min(1).max(100), z.string().min(1).max(100))
    .refine((mapping) => Object.keys(mapping).length <= 200, 'at most 200 mapped fields'),
});

const analyticsSetupSchema = z
  .strictObject({
    dashboards: z.array(z.enum(['overview', 'sla', 'agent_performance', 'channels', 'customer_satisfaction', 'ai_insights'])).max(6),
    kpis: z
      .array(
        z.strictObject({
          metric: z.enum([
            'first_response_minutes',
            'resolution_minutes',
            'csat_score',
            'sla_compliance_percent',
            'tickets_per_day',
            'backlog_size',
          ]),
          target: z.number().min(0).max(1_000_000),
        }),
      )
      .max(20),
    reportSchedule: z.strictObject({
      frequency: z.enum(['never', 'daily', 'weekly', 'monthly']),
      recipients: z.array(email).max(20),
    }),
  })
  .superRefine((value, ctx) => {
    requireUnique(value.dashboards, (d) => d, (i) => ['dashboards', i], 'dashboard', ctx);
    requireUnique(value.kpis, (k) => k.metric, (i) => ['kpis', i, 'metric'], 'KPI', ctx);
  });

/** The full data schema of each step, with its precise type (STEPS holds the same schemas). */
export const STEP_SCHEMAS = {
  welcome: welcomeSchema,
  organization_setup: organizationSetupSchema,
  channel_configuration: channelConfigurationSchema,
  ai_configuration: aiConfigurationSchema,
  knowledge_base: knowledgeBaseSchema,
  payment_setup: paymentSetupSchema,
  team_management: teamManagementSchema,
  workflow_configuration: workflowConfigurationSchema,
  customer_portal: customerPortalSchema,
  data_import: dataImportSchema,
  analytics_setup: analyticsSetupSchema,
} as const satisfies Record<StepId, z.ZodObject>;

/** The complete, valid data of one step. */
export type StepData<K extends StepId> = z.infer<(typeof STEP_SCHEMAS)[K]>;

// ---------------------------------------------------------------------------------------------
// Definitions

export type StepDefinition = {
  id: StepId;
  title: string;
  description: string;
  required: boolean;
  estimatedMinutes: number;
  /** Steps that must be done first; an optional dependency is also satisfied by skipping it. */
  dependencies: readonly StepId[];
  /** The full data schema, checked when the step is completed. */
  schema: z.ZodObject;
  /** Valid partial data a new session starts with. Frozen: clone before editing. */
  defaults: Readonly<Record<string, unknown>>;
  /**
   * Dot paths of string fields edited as collaborative long text (Y.Text on the server). Only
   * object fields, never inside arrays; a path through an optional object (`email.signature`)
   * applies once that object exists.
   */
  longTextFields: readonly string[];
};

// Defaults are shared by every new session: frozen, so that editing one in place throws instead of
// leaking into the next session. (Only plain data is frozen; zod schemas cache lazily on themselves.)
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

// Typed so that `tsc` checks every default against its step's data type.
const STEP_DEFAULTS: { [K in StepId]: Partial<StepData<K>> } = deepFreeze({
  welcome: { acceptedTerms: false },
  organization_setup: {
    timezone: 'UTC',
    locale: 'en',
    branding: { primaryColor: '#2563EB', secondaryColor: '#0F172A', fontFamily: 'Inter' },
  },
  channel_configuration: {},
  ai_configuration: {
    features: { ticketClassification: true, sentimentAnalysis: true, languageDetection: true, replySuggestions: false },
    provider: 'local',
    model: 'llama3.1:8b',
    confidenceThreshold: 0.7,
  },
  knowledge_base: { introduction: '', categories: [], articles: [] },
  payment_setup: { stripe: { currency: 'USD', plans: [] } },
  team_management: { invitations: [], departments: [] },
  workflow_configuration: {
    slaRules: [],
    escalationRules: [],
    businessHours: {
      timezone: 'UTC',
      days: (['mon', 'tue', 'wed', 'thu', 'fri'] as const).map((day) => ({ day, open: '09:00', close: '17:00' })),
    },
    autoAssignment: 'round_robin',
  },
  customer_portal: {
    theme: { primaryColor: '#2563EB' },
    welcomeText: '',
    features: { knowledgeBase: true, ticketSubmission: true, ticketTracking: true, chat: false },
  },
  data_import: { sources: [], fieldMapping: {} },
  analytics_setup: { dashboards: ['overview'], kpis: [], reportSchedule: { frequency: 'weekly', recipients: [] } },
});

// Required steps are the ones without which the helpdesk cannot run: an admin who knows the terms
// (welcome), a tenant identity (organization), a way for tickets to arrive (channels), people to
// answer them (team) and rules to route them (workflow). AI, knowledge base, payments, portal,
// import and analytics add value but a tenant can go live without them and come back later.
//
// Every dependency points to an earlier step, so the "no jumping ahead" rule already implies it;
// the list states the reason for the order and keeps the rule true if the order ever changes.
export const STEPS: Readonly<Record<StepId, StepDefinition>> = Object.freeze({
  welcome: {
    id: 'welcome',
    title: 'Welcome',
    description: 'Tell us who you are and what you want Glavito to do for your team.',
    required: true,
    estimatedMinutes: 2,
    dependencies: [],
    schema: welcomeSchema,
    defaults: STEP_DEFAULTS.welcome,
    longTextFields: [],
  },
  organization_setup: {
    id: 'organization_setup',
    title: 'Organization',
    description: 'Name, industry, time zone, language and branding of your organization.',
    required: true,
    estimatedMinutes: 5,
    dependencies: ['welcome'],
    schema: organizationSetupSchema,
    defaults: STEP_DEFAULTS.organization_setup,
    longTextFields: [],
  },
  channel_configuration: {
    id: 'channel_configuration',
    title: 'Channels',
    description: 'Connect WhatsApp Business, Instagram and email so customer messages become tickets.',
    required: true,
    estimatedMinutes: 10,
    dependencies: ['organization_setup'],
    schema: channelConfigurationSchema,
    defaults: STEP_DEFAULTS.channel_configuration,
    longTextFields: ['email.signature'],
  },
  ai_configuration: {
    id: 'ai_configuration',
    title: 'AI features',
    description: 'Ticket classification, sentiment, language detection and reply suggestions.',
    required: false,
    estimatedMinutes: 5,
    dependencies: ['organization_setup'],
    schema: aiConfigurationSchema,
    defaults: STEP_DEFAULTS.ai_configuration,
    longTextFields: [],
  },
  knowledge_base: {
    id: 'knowledge_base',
    title: 'Knowledge base',
    description: 'Categories and first articles your agents and customers can rely on.',
    required: false,
    estimatedMinutes: 10,
    dependencies: ['organization_setup'],
    schema: knowledgeBaseSchema,
    defaults: STEP_DEFAULTS.knowledge_base,
    longTextFields: ['introduction'],
  },
  payment_setup: {
    id: 'payment_setup',
    title: 'Payments',
    description: 'Connect Stripe, choose a currency and define plans.',
    required: false,
    estimatedMinutes: 8,
    dependencies: ['organization_setup'],
    schema: paymentSetupSchema,
    defaults: STEP_DEFAULTS.payment_setup,
    longTextFields: [],
  },
  team_management: {
    id: 'team_management',
    title: 'Team',
    description: 'Invite admins and agents and organize them in departments.',
    required: true,
    estimatedMinutes: 5,
    dependencies: ['organization_setup'],
    schema: teamManagementSchema,
    defaults: STEP_DEFAULTS.team_management,
    longTextFields: [],
  },
  workflow_configuration: {
    id: 'workflow_configuration',
    title: 'Workflows',
    description: 'SLA targets, escalation rules, business hours and ticket assignment.',
    required: true,
    estimatedMinutes: 10,
    dependencies: ['team_management', 'channel_configuration'],
    schema: workflowConfigurationSchema,
    defaults: STEP_DEFAULTS.workflow_configuration,
    longTextFields: [],
  },
  customer_portal: {
    id: 'customer_portal',
    title: 'Customer portal',
    description: 'Your self-service portal: address, look, welcome text and features.',
    required: false,
    estimatedMinutes: 5,
    dependencies: ['organization_setup', 'knowledge_base'],
    schema: customerPortalSchema,
    defaults: STEP_DEFAULTS.customer_portal,
    longTextFields: ['welcomeText'],
  },
  data_import: {
    id: 'data_import',
    title: 'Data import',
    description: 'Bring customers and tickets over from CSV, Zendesk, Freshdesk or HubSpot.',
    required: false,
    estimatedMinutes: 10,
    dependencies: ['organization_setup'],
    schema: dataImportSchema,
    defaults: STEP_DEFAULTS.data_import,
    longTextFields: [],
  },
  analytics_setup: {
    id: 'analytics_setup',
    title: 'Analytics',
    description: 'Dashboards, KPI targets and scheduled reports.',
    required: false,
    estimatedMinutes: 5,
    dependencies: ['workflow_configuration'],
    schema: analyticsSetupSchema,
    defaults: STEP_DEFAULTS.analytics_setup,
    longTextFields: [],
  },
} satisfies Record<StepId, StepDefinition>);

export const REQUIRED_STEP_IDS: readonly StepId[] = STEP_IDS.filter((id) => STEPS[id].required);
