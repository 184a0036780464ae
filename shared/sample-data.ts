// Valid, complete data for every step: the fixture of the step-machine, server and client tests
// (and a readable example of what each step holds). Typed, so `tsc` keeps it in line with the schemas.
import type { StepData, StepId } from './steps.ts';

export const SAMPLE_STEP_DATA: { readonly [K in StepId]: StepData<K> } = {
  welcome: {
    adminRole: 'support_manager',
    goals: ['centralize_channels', 'automate_with_ai', 'faster_responses'],
    teamSize: 12,
    acceptedTerms: true,
  },
  organization_setup: {
    name: 'Acme Outdoor Gear',
    industry: 'ecommerce',
    size: '11-50',
    timezone: 'Europe/Paris',
    locale: 'fr-FR',
    website: 'https://acme-outdoor.example',
    branding: {
      logoUrl: 'https://cdn.acme-outdoor.example/logo.png',
      primaryColor: '#1D4ED8',
      secondaryColor: '#F59E0B',
      fontFamily: 'Inter',
    },
  },
  channel_configuration: {
    whatsapp: {
      enabled: true,
      phoneNumberId: '106540352242922',
      businessAccountId: '102290129340398',
      displayName: 'Acme Support',
      credentialRef: 'cred_Wh4tsAppAcme0001',
    },
    instagram: { enabled: false },
    email: {
      enabled: true,
      provider: 'custom',
      address: 'support@acme-outdoor.example',
      smtpHost: 'smtp.acme-outdoor.example',
      smtpPort: 587,
      imapHost: 'imap.acme-outdoor.example',
      imapPort: 993,
      credentialRef: 'cred_EmailAcmeSmtp0001',
      signature: 'The Acme support team\nMon–Fri, 9:00–17:00 CET',
    },
  },
  ai_configuration: {
    features: { ticketClassification: true, sentimentAnalysis: true, languageDetection: true, replySuggestions: true },
    provider: 'openai_compatible',
    model: 'llama3.1:8b',
    baseUrl: 'https://llm.acme-outdoor.example/v1',
    confidenceThreshold: 0.75,
    credentialRef: 'cred_LlmGatewayAcme001',
  },
  knowledge_base: {
    introduction: 'Answers to the questions our customers ask most about orders, returns and gear care.',
    categories: [
      { id: 'orders', name: 'Orders and shipping' },
      { id: 'returns', name: 'Returns and refunds' },
    ],
    articles: [
      { id: 'track-order', title: 'How do I track my order?', categoryId: 'orders', body: 'Open the link in your shipping email.' },
      { id: 'return-policy', title: 'Our 30-day return policy', categoryId: 'returns', body: 'Unused items can be returned within 30 days.' },
    ],
  },
  payment_setup: {
    stripe: {
      accountRef: 'cred_StripeAcct00Acme01',
      currency: 'EUR',
      plans: [
        { name: 'Priority support', amount: 4900, interval: 'month' },
        { name: 'Priority support (yearly)', amount: 49000, interval: 'year' },
      ],
    },
    billingEmail: 'billing@acme-outdoor.example',
  },
  team_management: {
    invitations: [
      { email: 'bob@acme-outdoor.example', role: 'admin', name: 'Bob Martin' },
      { email: 'carol@acme-outdoor.example', role: 'agent' },
      { email: 'dan@acme-outdoor.example', role: 'viewer', name: 'Dan' },
    ],
    departments: ['Customer care', 'Returns'],
  },
  workflow_configuration: {
    slaRules: [
      { name: 'Urgent', priority: 'urgent', firstResponseMinutes: 15, resolutionMinutes: 240 },
      { name: 'Normal', priority: 'normal', firstResponseMinutes: 120, resolutionMinutes: 1440 },
    ],
    escalationRules: [
      { name: 'No answer in 2h', afterMinutes: 120, escalateTo: { type: 'team', team: 'Customer care' }, condition: 'no_first_response' },
      { name: 'Angry customer', afterMinutes: 30, escalateTo: { type: 'email', email: 'bob@acme-outdoor.example' }, condition: 'negative_sentiment' },
    ],
    businessHours: {
      timezone: 'Europe/Paris',
      days: [
        { day: 'mon', open: '09:00', close: '17:00' },
        { day: 'tue', open: '09:00', close: '17:00' },
        { day: 'wed', open: '09:00', close: '17:00' },
        { day: 'thu', open: '09:00', close: '17:00' },
        { day: 'fri', open: '09:00', close: '16:00' },
      ],
    },
    autoAssignment: 'load_balanced',
  },
  customer_portal: {
    subdomain: 'acme-outdoor',
    theme: { primaryColor: '#1D4ED8', logoUrl: 'https://cdn.acme-outdoor.example/logo.png' },
    welcomeText: 'Welcome to Acme support. Search our help articles or open a ticket.',
    features: { knowledgeBase: true, ticketSubmission: true, ticketTracking: true, chat: false },
  },
  data_import: {
    sources: [
      { kind: 'csv', fileRef: 'file_CustomersCsv0000001', status: 'pending' },
      { kind: 'zendesk', credentialRef: 'cred_ZendeskAcme00001' },
    ],
    fieldMapping: { 'Customer Email': 'email', 'Full Name': 'name', Phone: 'phone' },
  },
  analytics_setup: {
    dashboards: ['overview', 'sla', 'agent_performance'],
    kpis: [
      { metric: 'first_response_minutes', target: 60 },
      { metric: 'csat_score', target: 4.5 },
    ],
    reportSchedule: { frequency: 'weekly', recipients: ['alice@acme-outdoor.example', 'bob@acme-outdoor.example'] },
  },
};
