// The raw results every scenario writes under docs/bench/: what was run, when and where, then its own data.
import fs from 'node:fs';
import path from 'node:path';
import type { ScenarioContext } from './scenario.ts';

export function writeRawResults(file: string, context: ScenarioContext, scenario: string, body: Record<string, unknown>, command = context.command): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const raw = {
    scenario,
    mode: context.quick ? 'quick' : 'full',
    command,
    startedAt: context.startedAt,
    finishedAt: new Date().toISOString(),
    commit: context.commit,
    machine: context.machine,
    ...body,
  };
  fs.writeFileSync(file, `${JSON.stringify(raw, null, 2)}\n`);
}
