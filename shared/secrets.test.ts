import { describe, it, expect } from '@jest/globals';
import { CREDENTIAL_REF_PATTERN, REDACTED, credentialRefSchema, findSecrets, redactSecrets } from './secrets.ts';

// Secret-shaped samples are assembled at run time so that no scanner mistakes this file for a leak.
const join = (...parts: string[]): string => parts.join('');
const SAMPLES: Record<string, string> = {
  stripeSecretKey: join('sk_', 'live_', '51H8abcDEFghiJKLmnoPQRstu'),
  stripeTestKey: join('sk_', 'test_', '4eC39HqLyjWDarjtT1zdp7dc'),
  stripeRestrictedKey: join('rk_', 'live_', 'abcdefghij0123456789'),
  stripeWebhookSecret: join('whsec_', 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'),
  metaToken: join('EAA', 'Gm0PX4ZCpsBAKZC', 'x'.repeat(60)),
  awsAccessKey: join('AKIA', 'IOSFODNN7EXAMPL2'),
  pemPrivateKey: join('-----BEGIN ', 'RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----'),
  slackToken: join('xox', 'b-1234567890-abcdefghijkl'),
  jwt: join('eyJ', 'hbGciOiJIUzI1NiJ9', '.', 'eyJzdWIiOiIxMjM0NTY3ODkwIn0', '.', 'dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'),
};

describe('credential references', () => {
  it('are cred_ followed by 16 to 64 letters and digits', () => {
    expect(CREDENTIAL_REF_PATTERN.test('cred_0123456789abcdef')).toBe(true);
    expect(CREDENTIAL_REF_PATTERN.test(`cred_${'a'.repeat(64)}`)).toBe(true);
    expect(CREDENTIAL_REF_PATTERN.test('cred_short')).toBe(false);
    expect(CREDENTIAL_REF_PATTERN.test(`cred_${'a'.repeat(65)}`)).toBe(false);
    expect(CREDENTIAL_REF_PATTERN.test('cred_0123456789abcdef-')).toBe(false);
    expect(credentialRefSchema.safeParse(SAMPLES['stripeSecretKey']).success).toBe(false);
  });
});

describe('findSecrets', () => {
  it('reports secret-named keys with their dot paths, array indexes as numbers', () => {
    const value = {
      channels: { email: { address: 'help@acme.example', password: 'hunter2' } },
      integrations: [{ name: 'n8n' }, { name: 'crm', apiKey: 'abc123' }],
    };
    expect(findSecrets(value).map((f) => f.path)).toEqual(['channels.email.password', 'integrations.1.apiKey']);
  });

  it('recognises secret names whatever their case or separators', () => {
    const names = ['API_KEY', 'api_key', 'apiKey', 'X-Api-Key', 'clientSecret', 'accessToken', 'refresh_token', 'privateKey', 'Token', 'webhookSecret', 'passwd'];
    const value = Object.fromEntries(names.map((name) => [name, 'value']));
    expect(findSecrets(value).map((f) => f.path)).toEqual(names);
  });

  it('accepts a credentialRef, and a credential reference under any secret name', () => {
    expect(findSecrets({ credentialRef: 'cred_0123456789abcdef' })).toEqual([]);
    expect(findSecrets({ accessToken: 'cred_0123456789abcdef', clientSecret: 'cred_ABCDEFGHIJKLMNOP' })).toEqual([]);
  });

  it('ignores secret names holding nothing: null, empty string or a flag', () => {
    expect(findSecrets({ password: null, token: '', apiKey: true })).toEqual([]);
  });

  it('does not mistake ordinary names for secret ones', () => {
    expect(findSecrets({ maxTokens: 512, tokenCount: 3, passwordPolicy: 'strong', secretary: 'Ann', credentialRef: null })).toEqual([]);
  });

  it('reports a secret name holding an object once, at the key', () => {
    expect(findSecrets({ credentials: { user: 'a', pass: 'b' } }).map((f) => f.path)).toEqual(['credentials']);
  });

  it.each(Object.entries(SAMPLES))('finds a %s in any string, wherever it is', (_kind, secret) => {
    const value = { articles: [{}, {}, {}, { body: `to connect, use ${secret} in the settings` }] };
    const findings = findSecrets(value);
    expect(findings).toHaveLength(1);
    expect(findings[0]?.path).toBe('articles.3.body');
    expect(findings[0]?.reason).toMatch(/looks like/);
  });

  it('reports a secret at the root with the empty path', () => {
    expect(findSecrets(SAMPLES['jwt'])).toEqual([{ path: '', reason: expect.stringMatching(/JSON Web Token/) }]);
  });

  it('leaves ordinary text, publishable keys and short look-alikes alone', () => {
    const value = {
      body: 'Our keyboard shortcuts: press ask_live_chat to open the chat. eyJ is how base64 JSON starts.',
      publishableKey: join('pk_', 'live_', '51H8abcDEFghiJKLmnoPQRstu'),
      phone: '+33 6 12 34 56 78',
      slackMention: 'xoxb-',
    };
    expect(findSecrets(value)).toEqual([]);
  });

  it('does not loop on a cyclic object', () => {
    const value: Record<string, unknown> = { name: 'a' };
    value['self'] = value;
    value['token'] = 'raw';
    expect(findSecrets(value).map((f) => f.path)).toEqual(['token']);
  });
});

describe('redactSecrets', () => {
  it('returns a deep copy with every secret replaced and everything else kept', () => {
    const value = {
      email: { address: 'help@acme.example', password: 'hunter2', credentialRef: 'cred_0123456789abcdef' },
      notes: [`key ${SAMPLES['stripeSecretKey']}`, 'plain'],
      count: 3,
    };
    const before = structuredClone(value);
    expect(redactSecrets(value)).toEqual({
      email: { address: 'help@acme.example', password: REDACTED, credentialRef: 'cred_0123456789abcdef' },
      notes: [REDACTED, 'plain'],
      count: 3,
    });
    expect(value).toEqual(before);
  });

  it('copies rather than shares the objects it keeps', () => {
    const value = { branding: { primaryColor: '#000000' } };
    const copy = redactSecrets(value);
    expect(copy['branding']).toEqual(value.branding);
    expect(copy['branding']).not.toBe(value.branding);
  });

  it('keeps an own "__proto__" key a plain key', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "token": "raw"}') as Record<string, unknown>;
    const copy = redactSecrets(value);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toEqual(['__proto__', 'token']);
    expect(copy['token']).toBe(REDACTED);
  });

  it('redacts a whole object held under a secret name', () => {
    expect(redactSecrets({ credentials: { user: 'a', pass: 'b' } })).toEqual({ credentials: REDACTED });
  });
});
