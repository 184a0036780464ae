// Background training of the ticket classifier (classifier.ts). The work runs in chunks with a
// setImmediate between them, so 5,000 long tickets never hold the event loop for more than a
// chunk: the server keeps answering while a tenant trains. Progress is reported after each chunk,
// the abort signal is honoured between chunks, and the held-out accuracy is measured on a seeded,
// stratified split (the same samples always give the same split, model and accuracy).
//
// The returned model is the one trained on the training split, so `accuracy` describes exactly
// the model handed back (no refit on all samples whose accuracy nobody measured).
import { AppError, fieldIssues, type FieldIssue } from '../../../shared/errors.ts';
import { createClassifier, NaiveBayesTrainer, tokenize, trainingSamplesSchema, type ClassifierModel, type TrainingSample } from './classifier.ts';

/** Fewer tickets than this cannot give a held-out accuracy worth reporting. */
export const MIN_SAMPLES = 10;
export const MIN_SAMPLES_PER_LABEL = 2;

export type TrainingPhase = 'tokenizing' | 'training' | 'evaluating';
/** `done`/`total` count work units of the whole run (one per ticket per phase), so `percent` only grows. */
export type TrainingProgress = { phase: TrainingPhase; done: number; total: number; percent: number };

export type TrainingOptions = {
  onProgress?: (progress: TrainingProgress) => void;
  signal?: AbortSignal;
  /** Seed of the train/held-out split. */
  seed?: number;
  /** Share of each label's tickets held out for the accuracy (at least one, never all). */
  testFraction?: number;
  /** Laplace smoothing of the model (default 1). */
  alpha?: number;
};

export type LabelStats = { label: string; samples: number; train: number; test: number; correct: number };

export type TrainingResult = {
  model: ClassifierModel;
  /** Share of held-out tickets classified correctly (0..1). */
  accuracy: number;
  labels: LabelStats[];
  trainSize: number;
  testSize: number;
  durationMs: number;
};

export async function trainClassifier(samples: readonly TrainingSample[], options: TrainingOptions = {}): Promise<TrainingResult> {
  const started = performance.now();
  const valid = validate(samples);
  const { signal, onProgress } = options;
  const { train, test } = stratifiedSplit(valid, options.seed ?? 42, options.testFraction ?? 0.25);

  const total = valid.length + train.length + test.length;
  let done = 0;
  // Small sets still report several times: about ten chunks per phase, at most 250 tickets each.
  const chunkSize = (n: number) => Math.max(1, Math.min(250, Math.ceil(n / 10)));
  const step = async (phase: TrainingPhase, units: number) => {
    done += units;
    onProgress?.({ phase, done, total, percent: Math.round((done / total) * 1000) / 10 });
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (signal?.aborted) throw abortError(signal);
  };
  if (signal?.aborted) throw abortError(signal);

  const tokens: string[][] = [];
  for (let start = 0; start < valid.length; start += chunkSize(valid.length)) {
    const chunk = valid.slice(start, start + chunkSize(valid.length));
    for (const sample of chunk) tokens.push(tokenize(sample.text));
    await step('tokenizing', chunk.length);
  }

  const trainer = new NaiveBayesTrainer();
  for (let start = 0; start < train.length; start += chunkSize(train.length)) {
    const chunk = train.slice(start, start + chunkSize(train.length));
    for (const index of chunk) trainer.add(tokens[index] ?? [], valid[index]?.label ?? '');
    await step('training', chunk.length);
  }
  const model = trainer.build(options.alpha === undefined ? {} : { alpha: options.alpha });
  const classifier = createClassifier(model);

  const stats = new Map<string, LabelStats>(model.labels.map((label) => [label, { label, samples: 0, train: 0, test: 0, correct: 0 }]));
  for (const index of train) stats.get(valid[index]?.label ?? '')!.train++;
  let correct = 0;
  for (let start = 0; start < test.length; start += chunkSize(test.length)) {
    const chunk = test.slice(start, start + chunkSize(test.length));
    for (const index of chunk) {
      const label = valid[index]?.label ?? '';
      const entry = stats.get(label)!;
      entry.test++;
      if (classifier.classifyTokens(tokens[index] ?? []).label === label) {
        entry.correct++;
        correct++;
      }
    }
    await step('evaluating', chunk.length);
  }
  for (const entry of stats.values()) entry.samples = entry.train + entry.test;

  return {
    model,
    accuracy: test.length === 0 ? 0 : correct / test.length,
    labels: [...stats.values()],
    trainSize: train.length,
    testSize: test.length,
    durationMs: Math.round(performance.now() - started),
  };
}

/** Shape and bounds first (VALIDATION_FAILED with paths `samples.3.text`), then what training needs. */
function validate(samples: readonly TrainingSample[]): TrainingSample[] {
  const parsed = trainingSamplesSchema.safeParse(samples);
  if (!parsed.success) {
    throw new AppError('VALIDATION_FAILED', 'invalid training samples', {
      issues: fieldIssues(parsed.error.issues).map((issue) => ({ ...issue, path: issue.path === '' ? 'samples' : `samples.${issue.path}` })),
    });
  }
  const counts = new Map<string, number>();
  for (const sample of parsed.data) counts.set(sample.label, (counts.get(sample.label) ?? 0) + 1);
  const issues: FieldIssue[] = [];
  if (parsed.data.length < MIN_SAMPLES) issues.push({ path: 'samples', message: `needs at least ${MIN_SAMPLES} samples, got ${parsed.data.length}` });
  if (counts.size < 2) issues.push({ path: 'samples', message: `needs at least 2 labels, got ${counts.size}` });
  for (const [label, n] of counts) {
    if (n < MIN_SAMPLES_PER_LABEL) issues.push({ path: 'samples', message: `label "${label}" has ${n} sample; each label needs at least ${MIN_SAMPLES_PER_LABEL}` });
  }
  if (issues.length > 0) {
    throw new AppError('AI_MODEL_INIT_FAILED', `cannot train the ticket classifier: ${issues.map((issue) => issue.message).join('; ')}`, { issues });
  }
  return parsed.data;
}

/** Per label (sorted), a seeded shuffle; the first `testFraction` of each label is held out. */
function stratifiedSplit(samples: readonly TrainingSample[], seed: number, testFraction: number): { train: number[]; test: number[] } {
  const random = mulberry32(seed);
  const byLabel = new Map<string, number[]>();
  samples.forEach((sample, index) => {
    const list = byLabel.get(sample.label);
    if (list) list.push(index);
    else byLabel.set(sample.label, [index]);
  });
  const train: number[] = [];
  const test: number[] = [];
  for (const label of [...byLabel.keys()].sort()) {
    const indices = byLabel.get(label)!;
    for (let i = indices.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [indices[i], indices[j]] = [indices[j]!, indices[i]!];
    }
    const held = Math.min(indices.length - 1, Math.max(1, Math.round(indices.length * testFraction)));
    test.push(...indices.slice(0, held));
    train.push(...indices.slice(held));
  }
  return { train, test };
}

/** A small, well-known seeded PRNG (32-bit state); reproducibility matters here, not quality. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A timeout-driven abort is the call running out of time; any other abort is a cancellation. */
function abortError(signal: AbortSignal): AppError {
  const reason: unknown = signal.reason;
  if (typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError') {
    return new AppError('INTEGRATION_TIMEOUT', 'training the ticket classifier ran out of time');
  }
  return new AppError('AI_MODEL_INIT_FAILED', 'training the ticket classifier was aborted before it finished', { aborted: true });
}
