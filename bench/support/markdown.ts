// BENCHMARKS.md is shared by every scenario: each one rewrites only its own marked section.
import fs from 'node:fs';

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
