// Secrets never enter step data, logs, events or API responses (DESIGN.md §3.5). A secret goes to
// the integration configuration store, encrypted; step data holds only the masked reference the
// store hands back. This module recognises that reference and finds anything that looks like the
// real thing, so the server can refuse it on the way in and redact it on the way out.
import { z } from 'zod';

/** A masked reference to a secret held by the integration configuration store. */
export const CREDENTIAL_REF_PATTERN = /^cred_[A-Za-z0-9]{16,64}$/;

export const credentialRefSchema = z
  .string()
  .regex(CREDENTIAL_REF_PATTERN, 'must be a credential reference (cred_…) issued by the integration settings, never the secret itself');

export function isCredentialRef(value: unknown): value is string {
  return typeof value === 'string' && CREDENTIAL_REF_PATTERN.test(value);
}

export type SecretFinding = { path: string; reason: string };

export const REDACTED = '[redacted]';

// Key names are compared lower-cased with separators removed, so `api_key`, `apiKey` and `X-Api-Key`
// are one name. Matching the end of the name catches `clientSecret`, `webhookSecret`,
// `refreshToken`… without catching `maxTokens`, `tokenCount` or `credentialRef`.
const SECRET_KEY_SUFFIXES = [
  'password',
  'passwd',
  'passphrase',
  'secret',
  'token',
  'apikey',
  'privatekey',
  'secretkey',
  'signingkey',
  'encryptionkey',
  'accesskey',
  'credential',
  'credentials',
  'authorization',
  'cookie',
  'cvv',
  'cvc',
  'cardnumber',
];

function secretKeyName(key: string): string | undefined {
  const normalized = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  return SECRET_KEY_SUFFIXES.find((suffix) => normalized.endsWith(suffix));
}

// Formats of live credentials, searched anywhere inside a string (a key pasted into an email
// signature is as leaked as one in a `token` field). Publishable keys (Stripe pk_) are not secret.
const SECRET_VALUE_PATTERNS: readonly { pattern: RegExp; reason: string }[] = [
  { pattern: /\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}/, reason: 'looks like a Stripe secret key' },
  { pattern: /\bwhsec_[A-Za-z0-9]{10,}/, reason: 'looks like a Stripe webhook signing secret' },
  { pattern: /\bEAA[A-Za-z0-9_-]{50,}/, reason: 'looks like a Meta (WhatsApp/Instagram/Facebook) access token' },
  { pattern: /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/, reason: 'looks like an AWS access key id' },
  { pattern: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/, reason: 'looks like a PEM private key' },
  { pattern: /\bxox[abpr]-[A-Za-z0-9-]{10,}/, reason: 'looks like a Slack token' },
  { pattern: /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/, reason: 'looks like a JSON Web Token' },
  // ai_configuration accepts OpenAI-compatible providers: their keys get pasted into the wrong field.
  { pattern: /\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}/, reason: 'looks like an AI provider API key' },
  { pattern: /\bgh[pousr]_[A-Za-z0-9]{36,}/, reason: 'looks like a GitHub token' },
  { pattern: /\bAIza[0-9A-Za-z_-]{35}/, reason: 'looks like a Google API key' },
];

/** Why a string looks like a live secret, or undefined. */
export function secretValueReason(value: string): string | undefined {
  return SECRET_VALUE_PATTERNS.find(({ pattern }) => pattern.test(value))?.reason;
}

// Under a secret-named key, only "nothing" and a credential reference are acceptable. Booleans
// carry no secret (`hasPassword: true` style flags under such names are harmless).
function secretKeyReason(key: string, value: unknown): string | undefined {
  const name = secretKeyName(key);
  if (name === undefined) return undefined;
  if (value === null || value === undefined || value === '' || typeof value === 'boolean') return undefined;
  if (isCredentialRef(value)) return undefined;
  return `"${key}" names a secret; store it in the integration settings and keep only its credentialRef`;
}

function isWalkable(value: unknown): value is Record<string, unknown> | unknown[] {
  return typeof value === 'object' && value !== null;
}

function joinPath(path: string, key: string | number): string {
  return path === '' ? String(key) : `${path}.${key}`;
}

/**
 * Every place in a JSON value that holds a secret: a secret-named key whose value is not a
 * credential reference, or a string shaped like a live credential. Paths are dot-joined, array
 * indexes as numbers (`email.password`, `articles.3.body`); the root itself has path "".
 */
export function findSecrets(value: unknown): SecretFinding[] {
  const findings: SecretFinding[] = [];
  const ancestors = new WeakSet<object>();

  const visit = (node: unknown, path: string): void => {
    if (typeof node === 'string') {
      const reason = secretValueReason(node);
      if (reason !== undefined) findings.push({ path, reason });
      return;
    }
    if (!isWalkable(node) || ancestors.has(node)) return; // a cycle is not JSON; stop there
    ancestors.add(node);
    if (Array.isArray(node)) {
      node.forEach((item, index) => visit(item, joinPath(path, index)));
    } else {
      for (const [key, child] of Object.entries(node)) {
        const childPath = joinPath(path, key);
        const reason = secretKeyReason(key, child);
        // The whole value under a secret name is the finding; its insides need no second report.
        if (reason !== undefined) findings.push({ path: childPath, reason });
        else visit(child, childPath);
      }
    }
    // Only ancestors mark a cycle: a sub-object shared by two branches is reported under both.
    ancestors.delete(node);
  };

  visit(value, '');
  return findings;
}

/**
 * A deep copy of a JSON value with every finding of `findSecrets` replaced by "[redacted]" (whole
 * strings, not just the matching part: what surrounds a pasted key is often more of it).
 */
export function redactSecrets(value: Record<string, unknown>): Record<string, unknown>;
export function redactSecrets(value: unknown): unknown;
export function redactSecrets(value: unknown): unknown {
  const ancestors = new WeakSet<object>();

  const copy = (node: unknown): unknown => {
    if (typeof node === 'string') return secretValueReason(node) === undefined ? node : REDACTED;
    if (!isWalkable(node)) return node;
    if (ancestors.has(node)) return REDACTED; // a cycle is not JSON; cut it rather than recurse forever
    ancestors.add(node);
    let out: unknown;
    if (Array.isArray(node)) {
      out = node.map(copy);
    } else {
      const record: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(node)) {
        // defineProperty, so that an own "__proto__" key from JSON.parse stays a plain key.
        const redacted = secretKeyReason(key, child) === undefined ? copy(child) : REDACTED;
        Object.defineProperty(record, key, { value: redacted, enumerable: true, writable: true, configurable: true });
      }
      out = record;
    }
    ancestors.delete(node);
    return out;
  };

  return copy(value);
}
