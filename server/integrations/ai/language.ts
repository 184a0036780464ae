// Language of a ticket, offline: `tinyld` (n-gram profiles for ~60 languages bundled in the
// package, no network, ESM build). Chosen over franc-min because it is far better on the short
// texts tickets are ("Je n'ai pas reçu ma commande" is French to tinyld, Portuguese to franc).
// Tested for en, fr, es, de, pt, it, nl; other languages come back as tinyld detects them.
import { detectAll } from 'tinyld';

export const SUPPORTED_LANGUAGES = ['en', 'fr', 'es', 'de', 'pt', 'it', 'nl'] as const;

/** `code`: ISO 639-1, or `und` when the text has nothing to go on ("ok", digits). */
export type DetectedLanguage = { code: string; confidence: number };

export function detectLanguage(text: string): DetectedLanguage {
  // tinyld's own `accuracy` values are not probabilities; the top candidate's share of them is.
  const candidates = detectAll(text.slice(0, 5_000));
  const top = candidates[0];
  if (!top) return { code: 'und', confidence: 0 };
  const total = candidates.reduce((sum, candidate) => sum + candidate.accuracy, 0);
  return { code: top.lang, confidence: Math.round((total > 0 ? top.accuracy / total : 0) * 1000) / 1000 };
}
