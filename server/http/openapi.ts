// OpenAPI 3.1 for every /api/v1 route, generated from the same zod schemas that validate requests.
import { z } from 'zod';
import { errorBodySchema } from '../../shared/api.ts';
import { ERROR_STATUS, type ErrorCode } from '../../shared/errors.ts';
import type { AnyRouteSpec, RouteSpec } from './routes.ts';

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

function parameters(route: RouteSpec): JsonSchema[] {
  const list: JsonSchema[] = [];
  for (const [where, schema] of [['path', route.params], ['query', route.query]] as const) {
    if (!schema) continue;
    const object = jsonSchema(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, property] of Object.entries(object.properties ?? {})) {
      list.push({ name, in: where, required: where === 'path' || (object.required ?? []).includes(name), schema: property });
    }
  }
  return list;
}

export function openApiDocument(routes: readonly AnyRouteSpec[], info: { version: string }): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  const errorResponse = (description: string) => ({
    description,
    content: { 'application/json': { schema: jsonSchema(errorBodySchema, 'output') } },
  });
  for (const route of routes as readonly RouteSpec[]) {
    const path = `/api/v1${route.path.replace(/:(\w+)/g, '{$1}')}`;
    const codes: ErrorCode[] = ['VALIDATION_FAILED', 'AUTH_TOKEN_INVALID', 'FORBIDDEN', ...((route.errors ?? []) as ErrorCode[])];
    const responses: Record<string, JsonSchema> = {
      [route.response.status]: {
        description: route.response.description,
        content: { 'application/json': { schema: jsonSchema(route.response.schema, 'output') } },
      },
    };
    for (const code of codes) {
      const status = String(ERROR_STATUS[code]);
      const existing = responses[status] as { description: string } | undefined;
      responses[status] = errorResponse(existing ? `${existing.description}, ${code}` : code);
    }
    (paths[path] ??= {})[route.method] = {
      summary: route.summary,
      tags: route.tags,
      operationId: `${route.method}${route.path.replace(/[:/](\w)/g, (_m, c: string) => c.toUpperCase()).replace(/[^A-Za-z]/g, '')}`,
      description: `Roles: ${route.roles.join(', ')}.`,
      security: [{ bearer: [] }],
      parameters: parameters(route),
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Glavito onboarding API', version: info.version },
    servers: [{ url: '/' }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    paths,
  };
}
