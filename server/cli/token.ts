// `npm run token -- --tenant <id> --user <id> --role <role> [--ttl 12h]`: prints a token the local
// server accepts, signed with JWT_SECRET or the secret generated in DATA_DIR.
import { parseArgs } from 'node:util';
import { ROLES, tokenClaimsSchema } from '../../shared/auth.ts';
import { resolveJwtSecret } from '../auth/local-secret.ts';
import { signToken } from '../auth/tokens.ts';
import { ConfigError, loadConfig } from '../config.ts';

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    tenant: { type: 'string' },
    user: { type: 'string' },
    role: { type: 'string' },
    ttl: { type: 'string', default: '12h' },
  },
});

const claims = tokenClaimsSchema.safeParse({ sub: values.user, tenant: values.tenant, role: values.role });
if (!claims.success) {
  const problems = claims.error.issues.map((i) => `  --${i.path[0] === 'sub' ? 'user' : String(i.path[0])}: ${i.message}`);
  fail(`usage: npm run token -- --tenant <id> --user <id> --role <${ROLES.join('|')}> [--ttl 12h]\n${problems.join('\n')}`);
}

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  throw error;
}
const secret = resolveJwtSecret(config);
if (secret === undefined) fail('JWT_JWKS_URL is set: tokens come from the identity provider, not from this command');
console.log(
  await signToken(secret, claims.data, { expiresIn: values.ttl, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE }),
);
