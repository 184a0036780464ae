// BENCHMARKS.md is shared by every scenario: each one rewrites only its own marked section.
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../test/support/server-process.ts';
import { describeMachine, gitCommit } from './machine.ts';
import type { ScenarioContext } from './scenario.ts';

const HEADER = `# Benchmarks

Measured by \`npm run bench\` (all scenarios; \`npm run bench -- <scenario>\` for one,
\`npm run bench -- --quick\` for a short smoke run). Each section below is rewritten by its scenario
and says the command, the date, the commit and the machine it was measured on. Raw results are in
[docs/bench/](docs/bench/); the harness is in [bench/](bench/).

These machines are noisy (shared virtual machines, the load generator and the databases on the same
cores as the server): read the spread next to each median before comparing numbers, and compare
numbers only within one section.
`;

/**
 * Replaces the text between `<!-- bench:<name> -->` and `<!-- /bench:<name> -->`; a new section goes
 * before the section named `before` when there is one, else at the end.
 */
export function upsertSection(file: string, name: string, body: string, options: { before?: string } = {}): void {
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const section = `${open}\n${body.trim()}\n${close}`;
  let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : HEADER;
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  if (start !== -1 && end > start) {
    text = text.slice(0, start) + section + text.slice(end + close.length);
  } else {
    const next = options.before === undefined ? -1 : text.indexOf(`<!-- bench:${options.before} -->`);
    text = next === -1 ? `${text.trimEnd()}\n\n${section}\n` : `${text.slice(0, next)}${section}\n\n${text.slice(next)}`;
  }
  fs.writeFileSync(file, text);
}

/**
 * The facts a section opens with: the command, the date, the commit (and the one at the end, when the
 * shared checkout moved meanwhile), the machine and the raw results.
 */
export function runFacts(context: ScenarioContext, jsonPath: string): string {
  const rel = path.relative(REPO_ROOT, jsonPath);
  const commitAtEnd = gitCommit();
  return [
    `- **Command:** \`${context.command}\``,
    `- **Date:** ${context.startedAt}`,
    `- **Commit:** \`${context.commit}\`${commitAtEnd !== context.commit ? ` (\`${commitAtEnd}\` at the end: the checkout is shared)` : ''}`,
    `- **Machine:** ${describeMachine(context.machine)}`,
    `- **Raw results:** [${rel}](${rel})`,
  ].join('\n');
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The database settings a report ends with, so a reader can tell what a commit cost. */
export function databaseSettingsLine(postgres: Record<string, unknown>, sqlite: Record<string, unknown>): string {
  const list = (settings: Record<string, unknown>) =>
    Object.entries(settings)
      .map(([name, value]) => `${name}=${String(value)}`)
      .join(', ');
  return `PostgreSQL: ${list(postgres)}. SQLite: ${list(sqlite)}.`;
}
