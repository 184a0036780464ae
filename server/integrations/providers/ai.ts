// AI (kind 'ai'): ticket analysis (language, sentiment, category) either offline with the local
// models (ai/language.ts, ai/sentiment.ts, ai/classifier.ts) or through an OpenAI-compatible
// chat-completions API (OpenAI, Ollama, vLLM, llama.cpp server, ...).
//
// baseUrl: accepted with or without a trailing `/v1` (`https://api.openai.com/v1` and
// `http://ollama.internal:11434` both work); the provider strips one trailing `/v1` and calls
// `<base>/v1/models` and `<base>/v1/chat/completions`. Any other path prefix is kept.
// The base URL is user input: every call passes the SSRF guard and connects only to the addresses
// it approved (pinned dispatcher, no redirects), as n8n.ts does.
import { z } from 'zod';
import { AppError, fieldIssues } from '../../../shared/errors.ts';
import { loadClassifier, MAX_TEXT_LENGTH, type Classifier, type ClassifierModel, type TrainingSample } from '../ai/classifier.ts';
import { detectLanguage, type DetectedLanguage } from '../ai/language.ts';
import { analyzeSentiment, sentimentLexiconSize, type SentimentLabel } from '../ai/sentiment.ts';
import { trainClassifier, type TrainingOptions, type TrainingResult } from '../ai/training.ts';
import { guardedJsonCall, isObject, scrubSecret, type JsonAnswer } from '../guarded-json.ts';
import { maskSecret, type CallContext, type Provider } from '../provider.ts';

const credentialsSchema = z.strictObject({
  /** Required for openai_compatible (checked in connect/check/analyze, which know the provider). */
  apiKey: z.string().min(1).max(4096).optional(),
});
export type AiCredentials = z.infer<typeof credentialsSchema>;

const featuresSchema = z.strictObject({
  ticketClassification: z.boolean().default(true),
  sentimentAnalysis: z.boolean().default(true),
  languageDetection: z.boolean().default(true),
  replySuggestions: z.boolean().default(false),
});

const configSchema = z
  .strictObject({
    provider: z.enum(['local', 'openai_compatible']),
    // The same rule as the ai_configuration step (shared/steps.ts).
    model: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$/, 'must be a model name such as llama3.1:8b'),
    baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2048).optional(),
    features: featuresSchema.optional(),
  })
  .superRefine((value, ctx) => {
    if (value.provider === 'openai_compatible' && value.baseUrl === undefined) {
      ctx.addIssue({ code: 'custom', path: ['baseUrl'], message: 'is required for an OpenAI-compatible provider' });
    }
  });
export type AiConfig = z.infer<typeof configSchema>;

export type AiAnalysis = {
  language: DetectedLanguage;
  /** `score` in [-1, 1]. */
  sentiment: { label: SentimentLabel; score: number };
  /** Only with a trained classifier model (local) or its labels (openai_compatible), and the feature on. */
  category?: { label: string; confidence: number };
};

export type AiProvider = Provider<AiCredentials, AiConfig> & {
  /** Analyses one ticket text (at most 5,000 characters). */
  analyze(credentials: AiCredentials, config: AiConfig, text: string, model: ClassifierModel | undefined, context: CallContext): Promise<AiAnalysis>;
  /** Trains the local ticket classifier in the background (ai/training.ts). */
  train(samples: readonly TrainingSample[], options?: TrainingOptions): Promise<TrainingResult>;
};

export function createAiProvider(options: { allowPrivateHosts: boolean }): AiProvider {
  // Loading a model validates it (it comes back from storage) and builds its likelihood tables:
  // once per model object, not per ticket.
  const classifiers = new WeakMap<ClassifierModel, Classifier>();
  const classifierOf = (model: ClassifierModel) => {
    let classifier = classifiers.get(model);
    if (!classifier) classifiers.set(model, (classifier = loadClassifier(model)));
    return classifier;
  };

  /** The remote settings an openai_compatible call needs, or VALIDATION_FAILED naming the field. */
  const remote = (credentials: AiCredentials, config: AiConfig): { apiKey: string; baseUrl: string } => {
    const issues = [
      ...(config.baseUrl === undefined ? [{ path: 'config.baseUrl', message: 'is required for an OpenAI-compatible provider' }] : []),
      ...(credentials.apiKey === undefined ? [{ path: 'credentials.apiKey', message: 'is required for an OpenAI-compatible provider' }] : []),
    ];
    if (issues.length > 0 || config.baseUrl === undefined || credentials.apiKey === undefined) {
      throw new AppError('VALIDATION_FAILED', 'an OpenAI-compatible provider needs config.baseUrl and credentials.apiKey', { issues });
    }
    return { apiKey: credentials.apiKey, baseUrl: config.baseUrl };
  };

  const request = async (apiKey: string, baseUrl: string, method: 'GET' | 'POST', path: 'models' | 'chat/completions', body: unknown, context: CallContext): Promise<JsonAnswer> => {
    const base = baseUrl.replace(/\/+$/, '').replace(/\/v1$/, '');
    const answer = await guardedJsonCall(
      `${base}/v1/${path}`,
      { method, headers: { authorization: `Bearer ${apiKey}` }, ...(body === undefined ? {} : { body }) },
      { name: 'the AI provider', field: 'config.baseUrl', allowPrivate: options.allowPrivateHosts, secret: apiKey },
      context,
    );
    const message = scrubSecret(errorMessageOf(answer.body), apiKey);
    if (answer.status === 401 || answer.status === 403) {
      throw new AppError('INTEGRATION_AUTH_FAILED', `the AI provider refused the API key${message ? `: ${message}` : ''}`);
    }
    if (answer.status === 404 && errorCodeOf(answer.body) === 'model_not_found') {
      throw new AppError('AI_MODEL_INIT_FAILED', `the AI provider has no model "${modelOf(body)}"${message ? `: ${message}` : ''}`);
    }
    if (answer.status < 200 || answer.status >= 300) {
      throw new AppError('INTEGRATION_PROVIDER_ERROR', `the AI provider answered ${answer.status}${message ? `: ${message}` : ''}`, { status: answer.status });
    }
    return answer;
  };

  /** GET /v1/models, and the configured model must be among them. */
  const verifyModel = async (credentials: AiCredentials, config: AiConfig, context: CallContext) => {
    const { apiKey, baseUrl } = remote(credentials, config);
    const answer = await request(apiKey, baseUrl, 'GET', 'models', undefined, context);
    const list = modelListSchema.safeParse(answer.body);
    if (!list.success) {
      throw new AppError('INTEGRATION_PROVIDER_ERROR', 'the AI provider answered without a model list: is config.baseUrl an OpenAI-compatible API?');
    }
    if (!list.data.data.some((entry) => entry.id === config.model)) {
      const known = list.data.data.slice(0, 20).map((entry) => entry.id);
      throw new AppError('AI_MODEL_INIT_FAILED', `the AI provider has no model "${config.model}"${known.length > 0 ? ` (it lists ${known.join(', ')})` : ''}`, {
        issues: [{ path: 'config.model', message: 'not listed by the provider' }],
      });
    }
  };

  /** Loads the local models and runs one inference on known inputs; any surprise is AI_MODEL_INIT_FAILED. */
  const selfTest = () => {
    try {
      const positive = analyzeSentiment('great, thank you, this is excellent');
      const language = detectLanguage('The parcel has not arrived and I would like to know where it is.');
      if (sentimentLexiconSize() < 1000 || positive.label !== 'positive' || language.code !== 'en') {
        throw new Error(`self-test answered sentiment ${positive.label}, language ${language.code}`);
      }
    } catch (error) {
      throw new AppError('AI_MODEL_INIT_FAILED', `the local AI models did not load: ${(error as Error).message}`);
    }
  };

  return {
    kind: 'ai',
    credentialsSchema,
    configSchema,
    mask: (credentials): Record<string, string> => (credentials.apiKey === undefined ? {} : { apiKey: maskSecret(credentials.apiKey) }),

    async connect(credentials, config, context) {
      if (config.provider === 'local') selfTest();
      else await verifyModel(credentials, config, context);
      return {};
    },

    async check(credentials, config, context) {
      if (config.provider === 'local') selfTest();
      else await verifyModel(credentials, config, context);
    },

    async analyze(credentials, config, text, model, context) {
      if (text.trim() === '' || text.length > MAX_TEXT_LENGTH) {
        throw new AppError('VALIDATION_FAILED', 'invalid ticket text', {
          issues: [{ path: 'text', message: text.trim() === '' ? 'must not be empty' : `at most ${MAX_TEXT_LENGTH} characters` }],
        });
      }
      const classify = config.features?.ticketClassification !== false && model !== undefined;
      if (config.provider === 'local') {
        const sentiment = analyzeSentiment(text);
        return {
          language: detectLanguage(text),
          sentiment: { label: sentiment.label, score: sentiment.score },
          ...(classify ? { category: classifierOf(model).classify(text) } : {}),
        };
      }
      const { apiKey, baseUrl } = remote(credentials, config);
      const labels = classify ? model.labels : [];
      const answer = await request(apiKey, baseUrl, 'POST', 'chat/completions', chatRequest(config.model, text, labels), context);
      return parseAnalysis(answer.body, labels);
    },

    train: (samples, trainingOptions) => trainClassifier(samples, trainingOptions),
  };
}

const modelListSchema = z.object({ data: z.array(z.object({ id: z.string() })) });

/** A JSON-only prompt; `response_format` is honoured by OpenAI, Ollama, vLLM and llama.cpp. */
function chatRequest(model: string, text: string, labels: readonly string[]) {
  const categoryRule = labels.length > 0 ? `"category": {"label": one of ${JSON.stringify(labels)}, "confidence": number 0..1}` : 'no "category" key';
  return {
    model,
    temperature: 0,
    response_format: { type: 'json_object' },
    messages: [
      {
        role: 'system',
        content:
          'You analyse customer support tickets. Answer with one JSON object only, no prose: ' +
          '{"language": {"code": ISO 639-1 code, "confidence": number 0..1}, "sentiment": {"label": "positive"|"neutral"|"negative", "score": number -1..1}, ' +
          `${categoryRule}}.`,
      },
      { role: 'user', content: text },
    ],
  };
}

const chatAnswerSchema = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string() }) })).min(1),
});

const analysisSchema = z.object({
  language: z.object({ code: z.string().regex(/^[A-Za-z]{2,3}$/), confidence: z.number().min(0).max(1) }),
  sentiment: z.object({ label: z.enum(['positive', 'neutral', 'negative']), score: z.number().min(-1).max(1) }),
  category: z.object({ label: z.string(), confidence: z.number().min(0).max(1) }).optional(),
});

/** The model's answer, checked field by field: anything unexpected is the provider's error. */
function parseAnalysis(body: unknown, labels: readonly string[]): AiAnalysis {
  const chat = chatAnswerSchema.safeParse(body);
  if (!chat.success) throw new AppError('INTEGRATION_PROVIDER_ERROR', 'the AI provider answered without a chat completion');
  // Some models wrap JSON in a Markdown fence despite the instructions.
  const content = chat.data.choices[0]!.message.content.trim().replace(/^```(?:json)?\s*([\s\S]*?)\s*```$/, '$1');
  let json: unknown;
  try {
    json = JSON.parse(content);
  } catch {
    throw new AppError('INTEGRATION_PROVIDER_ERROR', 'the AI model answered something other than JSON');
  }
  const analysis = analysisSchema.safeParse(json);
  if (!analysis.success) {
    throw new AppError('INTEGRATION_PROVIDER_ERROR', 'the AI model answered JSON of an unexpected shape', {
      issues: fieldIssues(analysis.error.issues),
    });
  }
  const { language, sentiment, category } = analysis.data;
  return {
    language: { code: language.code.toLowerCase(), confidence: language.confidence },
    sentiment,
    // A label the tenant never trained is dropped rather than invented into its categories.
    ...(category && labels.includes(category.label) ? { category } : {}),
  };
}


/** OpenAI's error envelope: `{ error: { message, type, code } }`. */
function errorMessageOf(body: unknown): string {
  if (!isObject(body) || !isObject(body.error)) return '';
  return typeof body.error.message === 'string' ? body.error.message.slice(0, 1000) : '';
}

function errorCodeOf(body: unknown): unknown {
  return isObject(body) && isObject(body.error) ? body.error.code : undefined;
}

function modelOf(body: unknown): string {
  return isObject(body) && typeof body.model === 'string' ? body.model : '';
}

