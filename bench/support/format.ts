// Numbers as the reports print them, and the median-with-spread of a figure over repeated runs.
import { median, round } from './stats.ts';

export const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
export const count = (value: number) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : 'n/a');

/** `part` as a share of `whole`, e.g. `12.5 %`; whole numbers at 0 and 100 %, two decimals below 1 %. */
export const percent = (part: number, whole: number) => {
  if (whole <= 0) return 'n/a';
  const share = (part / whole) * 100;
  return `${fixed(share, part === 0 || part === whole ? 0 : share < 1 ? 2 : 1)} %`;
};

/** A figure over repeated runs: the median run's, with the lowest and highest run. */
export type Spread = { median: number; min: number; max: number };

export const spreadOf = (values: readonly number[]): Spread => {
  const finite = values.filter((v) => Number.isFinite(v));
  return { median: median(finite), min: finite.length > 0 ? Math.min(...finite) : Number.NaN, max: finite.length > 0 ? Math.max(...finite) : Number.NaN };
};

export const roundSpread = (s: Spread, digits: number): Spread => ({ median: round(s.median, digits), min: round(s.min, digits), max: round(s.max, digits) });

/** `**median** (min–max)`, or the bold median alone after a single run. */
export const withSpread = (s: Spread, digits: number, runs: number) =>
  runs > 1 ? `**${fixed(s.median, digits)}** (${fixed(s.min, digits)}–${fixed(s.max, digits)})` : `**${fixed(s.median, digits)}**`;
