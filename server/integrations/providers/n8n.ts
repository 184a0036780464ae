// n8n (its public REST API, `/api/v1`, header X-N8N-API-KEY): checks the API key against the
// tenant's instance and creates workflows from the built-in templates (n8n-templates.ts), then
// activates them. The base URL is user input, so every call first passes the SSRF guard and then
// connects only to the addresses the guard approved (pinned dispatcher, no redirects).
import { z } from 'zod';
import { AppError, fieldIssues } from '../../../shared/errors.ts';
import { buildN8nWorkflow, isN8nTemplateId, N8N_TEMPLATE_IDS, n8nTemplateInfo, type N8nTemplateId } from '../n8n-templates.ts';
import { guardedJsonCall, isObject, scrubSecret, type JsonAnswer } from '../guarded-json.ts';
import { maskSecret, type CallContext, type Provider } from '../provider.ts';

const credentialsSchema = z.strictObject({
  apiKey: z.string().min(1).max(4096),
});
export type N8nCredentials = z.infer<typeof credentialsSchema>;

const workflowSchema = z.strictObject({
  template: z.string().max(100),
  id: z.string().max(255),
  active: z.boolean(),
});
export type N8nWorkflowRef = z.infer<typeof workflowSchema>;

const configSchema = z.strictObject({
  /** The instance's URL (`https://n8n.example.com`, or with a path prefix it is served under). */
  baseUrl: z.url({ protocol: /^https?$/ }).max(2048),
  workflows: z.array(workflowSchema).max(100).optional(),
});
export type N8nConfig = z.infer<typeof configSchema>;

export type N8nProvider = Provider<N8nCredentials, N8nConfig> & {
  /** Creates the workflow of a built-in template on the tenant's instance and activates it. */
  createFromTemplate(credentials: N8nCredentials, config: N8nConfig, templateId: string, params: Record<string, unknown>, context: CallContext): Promise<N8nWorkflowRef>;
};

export function createN8nProvider(options: { allowPrivateHosts: boolean }): N8nProvider {
  /** One call to the n8n API; answers its status and parsed JSON body, mapping auth and 5xx failures. */
  const request = async (credentials: N8nCredentials, config: N8nConfig, method: 'GET' | 'POST', path: string, body: unknown, context: CallContext): Promise<JsonAnswer> => {
    const base = config.baseUrl.endsWith('/') ? config.baseUrl : `${config.baseUrl}/`;
    const answer = await guardedJsonCall(
      new URL(path, base),
      { method, headers: { 'X-N8N-API-KEY': credentials.apiKey }, ...(body === undefined ? {} : { body }) },
      { name: 'n8n', field: 'config.baseUrl', allowPrivate: options.allowPrivateHosts, secret: credentials.apiKey },
      context,
    );
    const message = scrubSecret(messageOf(answer.body), credentials.apiKey);
    if (answer.status === 401 || answer.status === 403) {
      throw new AppError('INTEGRATION_AUTH_FAILED', `n8n refused the API key${message ? `: ${message}` : ''}`);
    }
    if (answer.status >= 500 || (answer.status >= 300 && answer.status < 400)) {
      throw new AppError('INTEGRATION_PROVIDER_ERROR', `n8n answered ${answer.status}${message ? `: ${message}` : ''}`);
    }
    return answer;
  };

  const verifyKey = async (credentials: N8nCredentials, config: N8nConfig, context: CallContext) => {
    const answer = await request(credentials, config, 'GET', 'api/v1/workflows?limit=1', undefined, context);
    if (answer.status !== 200 || !isObject(answer.body) || !Array.isArray(answer.body.data)) {
      throw new AppError('INTEGRATION_PROVIDER_ERROR', `n8n answered ${answer.status} without a workflow list: is config.baseUrl an n8n instance?`);
    }
  };

  /** A create/activate call that n8n refused (4xx other than auth): N8N_WORKFLOW_ERROR with n8n's message. */
  const workflowCall = async (credentials: N8nCredentials, config: N8nConfig, path: string, body: unknown, what: string, context: CallContext, template: N8nTemplateId) => {
    const answer = await request(credentials, config, 'POST', path, body, context);
    if (answer.status < 200 || answer.status >= 300 || !isObject(answer.body)) {
      const message = scrubSecret(messageOf(answer.body), credentials.apiKey);
      throw new AppError('N8N_WORKFLOW_ERROR', `n8n could not ${what} the workflow of template "${template}": ${message || `status ${answer.status}`}`, {
        template,
        status: answer.status,
      });
    }
    return answer.body;
  };

  return {
    kind: 'n8n',
    credentialsSchema,
    configSchema,
    mask: (credentials) => ({ apiKey: maskSecret(credentials.apiKey) }),

    async connect(credentials, config, context) {
      await verifyKey(credentials, config, context);
      return {};
    },

    async check(credentials, config, context) {
      await verifyKey(credentials, config, context);
    },

    async createFromTemplate(credentials, config, templateId, params, context) {
      if (!isN8nTemplateId(templateId)) {
        throw new AppError('VALIDATION_FAILED', `unknown n8n template "${templateId}"`, {
          issues: [{ path: 'templateId', message: `must be one of ${N8N_TEMPLATE_IDS.join(', ')}` }],
        });
      }
      const parsed = n8nTemplateInfo(templateId).params.safeParse(params);
      if (!parsed.success) {
        throw new AppError('VALIDATION_FAILED', `invalid parameters for n8n template "${templateId}"`, {
          issues: fieldIssues(parsed.error.issues).map((issue) => ({ ...issue, path: issue.path === '' ? 'params' : `params.${issue.path}` })),
        });
      }
      const workflow = buildN8nWorkflow(templateId, context.tenantId, parsed.data);
      const created = await workflowCall(credentials, config, 'api/v1/workflows', workflow, 'create', context, templateId);
      const id = created.id;
      if (typeof id !== 'string' && typeof id !== 'number') {
        throw new AppError('INTEGRATION_PROVIDER_ERROR', 'n8n created the workflow but answered no id');
      }
      const activated = await workflowCall(credentials, config, `api/v1/workflows/${encodeURIComponent(String(id))}/activate`, undefined, 'activate', context, templateId);
      // n8n refuses an activation with a 4xx and its message (409 for a webhook path already in
      // use), but n8n 2.40.7 sometimes answers such an activation as a success and then finds the
      // webhook's UNIQUE constraint violated: what n8n stored afterwards is the answer.
      const stored = activated.active === true ? await request(credentials, config, 'GET', `api/v1/workflows/${encodeURIComponent(String(id))}`, undefined, context) : undefined;
      if (activated.active !== true || !isObject(stored?.body) || stored.body.active !== true) {
        throw new AppError('N8N_WORKFLOW_ERROR', `n8n did not activate the workflow of template "${templateId}" (id ${String(id)}): ${scrubSecret(messageOf(activated), credentials.apiKey) || 'it answered the workflow still inactive; its log has the reason (e.g. a webhook path already in use)'}`, {
          template: templateId,
          workflowId: String(id),
        });
      }
      return { template: templateId, id: String(id), active: true };
    },
  };
}


/** n8n's error answers are `{ message }` (sometimes with `code`/`description`). */
function messageOf(body: unknown): string {
  if (!isObject(body)) return '';
  const message = typeof body.message === 'string' ? body.message : '';
  const description = typeof body.description === 'string' ? body.description : '';
  return [message, description].filter((part) => part !== '').join(' — ').slice(0, 1000);
}

