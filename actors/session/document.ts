// The session's Yjs document: one Y.Map per step, holding that step's data. Long text fields are
// Y.Text so several admins can type in them at once; everything else is plain JSON values, nested
// objects as Y.Map and arrays as Y.Array. REST writes go through the same functions as live edits.
import * as Y from 'yjs';
import { STEP_IDS, STEPS, type StepId } from '../../shared/steps.ts';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** JSON to Yjs types; strings at a long-text path (dot path within the step) become Y.Text. */
function toYValue(value: Json, path: string, longText: ReadonlySet<string>): unknown {
  if (typeof value === 'string' && longText.has(path)) return new Y.Text(value);
  if (Array.isArray(value)) {
    const array = new Y.Array<unknown>();
    // Long text never lives inside arrays (see StepDefinition.longTextFields).
    array.push(value.map((item) => toYValue(item, '', longText)));
    return array;
  }
  if (value !== null && typeof value === 'object') {
    const map = new Y.Map<unknown>();
    for (const [key, item] of Object.entries(value)) map.set(key, toYValue(item, path === '' ? key : `${path}.${key}`, longText));
    return map;
  }
  return value;
}

/**
 * Sets the given top-level fields of a step (null deletes one) in one Yjs transaction. Each field is
 * replaced whole, so concurrent writers of different fields never clobber each other.
 */
export function applyStepPatch(doc: Y.Doc, stepId: StepId, patch: Record<string, unknown>, origin: unknown): void {
  const map = doc.getMap<unknown>(stepId);
  const longText = new Set(STEPS[stepId].longTextFields);
  doc.transact(() => {
    for (const [key, value] of Object.entries(patch)) {
      if (value === null || value === undefined) {
        map.delete(key);
      } else if (longText.has(key) && typeof value === 'string') {
        const existing = map.get(key);
        const text = existing instanceof Y.Text ? existing : new Y.Text();
        if (text !== existing) map.set(key, text);
        text.delete(0, text.length);
        text.insert(0, value);
      } else {
        map.set(key, toYValue(value as Json, key, longText));
      }
    }
  }, origin);
}

export function stepData(doc: Y.Doc, stepId: StepId): Record<string, unknown> {
  return doc.getMap<unknown>(stepId).toJSON() as Record<string, unknown>;
}

export function documentData(doc: Y.Doc): Record<StepId, Record<string, unknown>> {
  return Object.fromEntries(STEP_IDS.map((id) => [id, stepData(doc, id)])) as Record<StepId, Record<string, unknown>>;
}
