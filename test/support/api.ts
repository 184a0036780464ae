// A small typed HTTP helper for tests: JSON in, { status, body } out.
import { signToken } from '../../server/auth/tokens.ts';
import type { Role } from '../../shared/auth.ts';
import { TEST_JWT_SECRET } from './config.ts';

export type ApiResponse<T = Record<string, unknown>> = { status: number; body: T };

export type Api = {
  get<T = Record<string, unknown>>(path: string): Promise<ApiResponse<T>>;
  post<T = Record<string, unknown>>(path: string, body?: unknown): Promise<ApiResponse<T>>;
  patch<T = Record<string, unknown>>(path: string, body: unknown): Promise<ApiResponse<T>>;
  put<T = Record<string, unknown>>(path: string, body: unknown): Promise<ApiResponse<T>>;
  delete<T = Record<string, unknown>>(path: string): Promise<ApiResponse<T>>;
};

export function tokenFor(tenant: string, role: Role, user = `${role}-user`, expiresIn: string | number = '1h'): Promise<string> {
  return signToken(TEST_JWT_SECRET, { sub: user, tenant, role }, { expiresIn });
}

/** Calls `baseUrl` + `/api/v1` + path with the given bearer token (none when undefined). */
export function api(baseUrl: string, token: string | undefined): Api {
  const call = async <T>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> => {
    const response = await fetch(`${baseUrl}/api/v1${path}`, {
      method,
      headers: {
        ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
  };
  return {
    get: (path) => call('GET', path),
    post: (path, body = {}) => call('POST', path, body),
    patch: (path, body) => call('PATCH', path, body),
    put: (path, body) => call('PUT', path, body),
    delete: (path) => call('DELETE', path),
  };
}
