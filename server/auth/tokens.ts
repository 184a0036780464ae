// JWT verification (jose): an HS256 shared secret, or the platform's JWKS for asymmetric keys.
import { createRemoteJWKSet, errors, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose';
import { tokenClaimsSchema, type Principal, type TokenClaims } from '../../shared/auth.ts';
import { AppError, fieldIssues } from '../../shared/errors.ts';

export type TokenVerifier = (token: string) => Promise<Principal>;

export type VerifierOptions = {
  /** HS256 secret (JWT_SECRET, or the one generated in DATA_DIR in embedded mode). */
  secret?: string | undefined;
  /** JWKS URL of the platform's identity service (asymmetric keys only). */
  jwksUrl?: string | undefined;
  issuer?: string | undefined;
  audience?: string | undefined;
};

const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

export function createTokenVerifier(options: VerifierOptions): TokenVerifier {
  let key: Uint8Array | JWTVerifyGetKey;
  let algorithms: string[];
  if (options.jwksUrl !== undefined) {
    key = createRemoteJWKSet(new URL(options.jwksUrl), { timeoutDuration: 5_000, cooldownDuration: 30_000 });
    algorithms = ASYMMETRIC_ALGORITHMS;
  } else if (options.secret !== undefined) {
    key = new TextEncoder().encode(options.secret);
    algorithms = ['HS256'];
  } else {
    throw new Error('a token verifier needs a secret or a JWKS URL');
  }
  const verifyOptions = {
    algorithms,
    ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
    ...(options.audience !== undefined ? { audience: options.audience } : {}),
    clockTolerance: 5,
  };

  return async (token) => {
    let payload: unknown;
    try {
      // Two overloads (key vs key getter) that TypeScript cannot pick from a union.
      payload = (
        typeof key === 'function' ? await jwtVerify(token, key, verifyOptions) : await jwtVerify(token, key, verifyOptions)
      ).payload;
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw new AppError('AUTH_TOKEN_EXPIRED', 'the token has expired');
      throw new AppError('AUTH_TOKEN_INVALID', 'the token could not be verified');
    }
    const claims = tokenClaimsSchema.safeParse(payload);
    if (!claims.success) {
      throw new AppError('AUTH_TOKEN_INVALID', 'the token lacks valid sub, tenant or role claims', {
        issues: fieldIssues(claims.error.issues),
      });
    }
    return { userId: claims.data.sub, tenantId: claims.data.tenant, role: claims.data.role };
  };
}

/** Signs an HS256 token (the `npm run token` command and tests; the platform signs real ones). */
export async function signToken(
  secret: string,
  claims: TokenClaims,
  options: { expiresIn?: string | number; issuer?: string | undefined; audience?: string | undefined } = {},
): Promise<string> {
  let jwt = new SignJWT({ tenant: claims.tenant, role: claims.role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '12h');
  if (options.issuer !== undefined) jwt = jwt.setIssuer(options.issuer);
  if (options.audience !== undefined) jwt = jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}

/** The bearer token of an `Authorization` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}
