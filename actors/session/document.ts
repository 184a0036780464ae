// The session's Yjs document: one Y.Map per step, holding that step's data. Long text fields are
// Y.Text so several admins can type in them at once; everything else is plain JSON values, nested
// objects as Y.Map and arrays as Y.Array. REST writes go through the same functions as live edits.
import * as Y from 'yjs';
import { isPlainObject } from '../../shared/merge-patch.ts';
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
 * Applies a JSON merge patch (RFC 7396) to a step in one Yjs transaction: objects merge key by key
 * into the existing Y.Maps, `null` deletes, other values replace. Writers of different keys, at any
 * depth, never clobber each other; long text is rewritten in place in its Y.Text.
 */
export function applyStepPatch(doc: Y.Doc, stepId: StepId, patch: Record<string, unknown>, origin: unknown): void {
  const longText = new Set(STEPS[stepId].longTextFields);
  doc.transact(() => mergeInto(doc.getMap<unknown>(stepId), patch, '', longText), origin);
}

function mergeInto(map: Y.Map<unknown>, patch: Record<string, unknown>, prefix: string, longText: ReadonlySet<string>): void {
  for (const [key, value] of Object.entries(patch)) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    const existing = map.get(key);
    if (value === null || value === undefined) {
      map.delete(key);
    } else if (isPlainObject(value) && existing instanceof Y.Map) {
      mergeInto(existing, value, path, longText);
    } else if (typeof value === 'string' && existing instanceof Y.Text && longText.has(path)) {
      if (existing.toString() !== value) {
        existing.delete(0, existing.length);
        existing.insert(0, value);
      }
    } else if (!isPlainObject(value) && !Array.isArray(value) && existing === value) {
      // unchanged scalar: no update, no log entry
    } else {
      map.set(key, toYValue(value as Json, path, longText));
    }
  }
}

export function stepData(doc: Y.Doc, stepId: StepId): Record<string, unknown> {
  return doc.getMap<unknown>(stepId).toJSON() as Record<string, unknown>;
}

export function documentData(doc: Y.Doc): Record<StepId, Record<string, unknown>> {
  return Object.fromEntries(STEP_IDS.map((id) => [id, stepData(doc, id)])) as Record<StepId, Record<string, unknown>>;
}
