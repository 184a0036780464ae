// Ticket classification, offline: a multinomial naive Bayes over binarized word counts (each term
// counted once per ticket, which suits short texts better than raw counts), Laplace smoothing,
// a light suffix stemmer and an English stop-word list. Hand-written (~a page) rather than a
// library: `natural` pulls in database clients and the small classifier packages are unmaintained;
// this one is deterministic, fast and serializes to plain JSON.
//
// The serialized model is bounded (labels, vocabulary, counts) and validated with zod when loaded,
// since it is stored and may come back from outside the process.
import { z } from 'zod';
import { AppError, fieldIssues } from '../../../shared/errors.ts';

export const MAX_SAMPLES = 5_000;
export const MAX_TEXT_LENGTH = 5_000;
export const MAX_VOCABULARY = 5_000;
export const MAX_LABELS = 50;

const labelSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, - and _, at most 64');

export const trainingSampleSchema = z.strictObject({
  text: z.string().trim().min(1, 'must not be empty').max(MAX_TEXT_LENGTH, `at most ${MAX_TEXT_LENGTH} characters`),
  label: labelSchema,
});
export type TrainingSample = z.infer<typeof trainingSampleSchema>;

export const trainingSamplesSchema = z.array(trainingSampleSchema).max(MAX_SAMPLES, `at most ${MAX_SAMPLES} samples`);

const count = z.int().min(0).max(Number.MAX_SAFE_INTEGER);

export const classifierModelSchema = z
  .strictObject({
    kind: z.literal('multinomial-naive-bayes'),
    version: z.literal(1),
    /** Laplace smoothing constant. */
    alpha: z.number().positive().max(10),
    labels: z.array(labelSchema).min(2).max(MAX_LABELS),
    /** Training tickets per label (aligned with `labels`): the priors. */
    docCounts: z.array(count.min(1)).max(MAX_LABELS),
    vocabulary: z.array(z.string().min(1).max(64)).max(MAX_VOCABULARY),
    /** Per label, the number of tickets containing each vocabulary term (aligned with `vocabulary`). */
    termCounts: z.array(z.array(count).max(MAX_VOCABULARY)).max(MAX_LABELS),
  })
  .superRefine((model, ctx) => {
    if (new Set(model.labels).size !== model.labels.length) ctx.addIssue({ code: 'custom', path: ['labels'], message: 'labels must be unique' });
    if (new Set(model.vocabulary).size !== model.vocabulary.length) ctx.addIssue({ code: 'custom', path: ['vocabulary'], message: 'terms must be unique' });
    if (model.docCounts.length !== model.labels.length) ctx.addIssue({ code: 'custom', path: ['docCounts'], message: 'needs one count per label' });
    if (model.termCounts.length !== model.labels.length) ctx.addIssue({ code: 'custom', path: ['termCounts'], message: 'needs one row per label' });
    model.termCounts.forEach((row, index) => {
      if (row.length !== model.vocabulary.length) ctx.addIssue({ code: 'custom', path: ['termCounts', index], message: 'needs one count per vocabulary term' });
    });
  });
/** The serialized classifier: plain JSON, at most ~50 × 5,000 counts. */
export type ClassifierModel = z.infer<typeof classifierModelSchema>;

export type Classification = { label: string; confidence: number };

export type Classifier = {
  readonly model: ClassifierModel;
  classify(text: string): Classification;
  /** The same on tokens from `tokenize()` (training evaluates tickets it has tokenized already). */
  classifyTokens(tokens: readonly string[]): Classification;
};

// Words that carry no topic in a helpdesk ticket (English; other languages simply keep theirs).
const STOP_WORDS: ReadonlySet<string> = new Set(
  ('a an and are as at be been but by can could did do does for from had has have he her hi hello him his how i if in into is it its ' +
    'just me my no not of on or our please she so than that the their them then there these they this to too us was we were what ' +
    'when where which who why will with would you your yours am any all also get got im ive dont cant thanks thank regards team')
    .split(' '),
);

/** Lower-cases, strips accents, splits on anything but letters/digits, drops stop words, stems lightly. */
export function tokenize(text: string): string[] {
  const words = text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/['’]/g, '')
    .split(/[^\p{L}\p{N}]+/u);
  const tokens: string[] = [];
  for (const word of words) {
    if (word.length < 2 || word.length > 64 || STOP_WORDS.has(word)) continue;
    tokens.push(stem(word));
  }
  return tokens;
}

/** A few English suffixes, enough to merge "charged/charges/charging" without a stemmer library. */
function stem(word: string): string {
  if (word.length <= 4 || /\d/.test(word)) return word;
  let base = word;
  for (const suffix of ['ations', 'ation', 'ments', 'ment', 'ings', 'ing', 'edly', 'ies', 'ied', 'ed', 'es', 'ly', 's']) {
    if (word.endsWith(suffix) && word.length - suffix.length >= 3) {
      base = suffix === 'ies' || suffix === 'ied' ? `${word.slice(0, -suffix.length)}y` : word.slice(0, -suffix.length);
      break;
    }
  }
  // "charge" and "charged" both end up as "charg".
  return base.length > 4 && base.endsWith('e') ? base.slice(0, -1) : base;
}

/** Accumulates per-label document frequencies; `build()` caps the vocabulary and freezes a model. */
export class NaiveBayesTrainer {
  private readonly docCounts = new Map<string, number>();
  private readonly termCounts = new Map<string, Map<string, number>>();
  private readonly documentFrequency = new Map<string, number>();

  /** `tokens` from `tokenize()`; each distinct term counts once per ticket. */
  add(tokens: readonly string[], label: string): void {
    this.docCounts.set(label, (this.docCounts.get(label) ?? 0) + 1);
    let row = this.termCounts.get(label);
    if (!row) this.termCounts.set(label, (row = new Map()));
    for (const term of new Set(tokens)) {
      row.set(term, (row.get(term) ?? 0) + 1);
      this.documentFrequency.set(term, (this.documentFrequency.get(term) ?? 0) + 1);
    }
  }

  build(options: { alpha?: number; maxVocabulary?: number } = {}): ClassifierModel {
    const labels = [...this.docCounts.keys()].sort();
    // Keep the most frequent terms; ties broken by the term itself so a model is reproducible.
    const vocabulary = [...this.documentFrequency.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, Math.min(options.maxVocabulary ?? MAX_VOCABULARY, MAX_VOCABULARY))
      .map(([term]) => term)
      .sort();
    return {
      kind: 'multinomial-naive-bayes',
      version: 1,
      alpha: options.alpha ?? 1,
      labels,
      docCounts: labels.map((label) => this.docCounts.get(label) ?? 0),
      vocabulary,
      termCounts: labels.map((label) => vocabulary.map((term) => this.termCounts.get(label)?.get(term) ?? 0)),
    };
  }
}

/** A classifier over a model already known to be valid (from the trainer or `loadClassifier`). */
export function createClassifier(model: ClassifierModel): Classifier {
  const index = new Map(model.vocabulary.map((term, position) => [term, position] as const));
  const totalDocs = model.docCounts.reduce((sum, n) => sum + n, 0);
  const priors = model.docCounts.map((n) => Math.log(n / totalDocs));
  // log P(term | label) with Laplace smoothing, precomputed once per model.
  const likelihoods = model.termCounts.map((row) => {
    const total = row.reduce((sum, n) => sum + n, 0);
    const denominator = total + model.alpha * model.vocabulary.length;
    return row.map((n) => Math.log((n + model.alpha) / denominator));
  });
  const classifyTokens = (tokens: readonly string[]): Classification => {
      const scores = [...priors];
      for (const term of new Set(tokens)) {
        const position = index.get(term);
        if (position === undefined) continue; // unseen terms carry no evidence
        likelihoods.forEach((row, label) => (scores[label] = (scores[label] ?? 0) + (row[position] ?? 0)));
      }
      // Softmax over log scores: the posterior of the best label is the confidence.
      const best = Math.max(...scores);
      const weights = scores.map((score) => Math.exp(score - best));
      const sum = weights.reduce((total, weight) => total + weight, 0);
      const top = scores.indexOf(best);
      return { label: model.labels[top] ?? '', confidence: (weights[top] ?? 0) / sum };
  };
  return { model, classifyTokens, classify: (text) => classifyTokens(tokenize(text.slice(0, MAX_TEXT_LENGTH))) };
}

/** Validates a serialized model (VALIDATION_FAILED with field paths under `field`) and loads it. */
export function loadClassifier(json: unknown, field = 'model'): Classifier {
  const parsed = classifierModelSchema.safeParse(json);
  if (!parsed.success) {
    throw new AppError('VALIDATION_FAILED', 'invalid classifier model', {
      issues: fieldIssues(parsed.error.issues).map((issue) => ({ ...issue, path: issue.path === '' ? field : `${field}.${issue.path}` })),
    });
  }
  return createClassifier(parsed.data);
}
