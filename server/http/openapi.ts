// OpenAPI 3.1 for every /api/v1 route, generated from the same zod schemas that validate requests.
import { z } from 'zod';
import { errorBodySchema } from '../../shared/api.ts';
import { ERROR_STATUS, type ErrorCode } from '../../shared/errors.ts';
import type { AnyRouteSpec, RouteSpec } from './routes.ts';

type JsonSchema = Record<string, unknown>;

/** Points zod's local `#/$defs/X` references at the document's `#/components/schemas/X`. */
function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [
      key,
      key === '$ref' && typeof item === 'string' ? item.replace('#/$defs/', '#/components/schemas/') : rewriteRefs(item),
    ]),
  );
}

/**
 * JSON Schema of a zod schema for the document: named schemas (`.meta({ id })`) move to
 * `components` (zod puts them in a local `$defs`, which OpenAPI cannot resolve from the root).
 */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output', components: Record<string, JsonSchema>): JsonSchema {
  const { $schema: _schema, $defs, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as JsonSchema;
  for (const [id, definition] of Object.entries(($defs ?? {}) as Record<string, JsonSchema>)) {
    components[id] = rewriteRefs(definition) as JsonSchema;
  }
  return rewriteRefs(rest) as JsonSchema;
}

function parameters(route: RouteSpec, components: Record<string, JsonSchema>): JsonSchema[] {
  const list: JsonSchema[] = [];
  for (const [where, schema] of [['path', route.params], ['query', route.query]] as const) {
    if (!schema) continue;
    const object = jsonSchema(schema, 'input', components) as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, property] of Object.entries(object.properties ?? {})) {
      list.push({ name, in: where, required: where === 'path' || (object.required ?? []).includes(name), schema: property });
    }
  }
  return list;
}

export function openApiDocument(routes: readonly AnyRouteSpec[], info: { version: string }): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  const components: Record<string, JsonSchema> = {};
  const errorSchema = jsonSchema(errorBodySchema, 'output', components);
  const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: errorSchema } } });
  const json = (schema: z.ZodType, io: 'input' | 'output') => ({ 'application/json': { schema: jsonSchema(schema, io, components) } });
  for (const route of routes as readonly RouteSpec[]) {
    const path = `/api/v1${route.path.replace(/:(\w+)/g, '{$1}')}`;
    const codes: ErrorCode[] = [
      'VALIDATION_FAILED',
      'AUTH_TOKEN_MISSING',
      'AUTH_TOKEN_INVALID',
      'AUTH_TOKEN_EXPIRED',
      'FORBIDDEN',
      ...((route.errors ?? []) as ErrorCode[]),
    ];
    const responses: Record<string, JsonSchema> = {};
    for (const status of [route.response.status, ...(route.response.alsoStatus ?? [])]) {
      responses[status] = { description: route.response.description, content: json(route.response.schema, 'output') };
    }
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
      parameters: parameters(route, components),
      ...(route.body ? { requestBody: { required: true, content: json(route.body, 'input') } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Glavito onboarding API', version: info.version },
    servers: [{ url: '/' }],
    components: { schemas: components, securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    paths,
  };
}
