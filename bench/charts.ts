// `scripts/node24 bench/charts.ts [results.json...]`: redraws the SVG charts of the raw results under
// docs/bench/ (all of them by default) from the JSON alone, without running a benchmark. A bench run
// draws the same charts itself after it writes its JSON; this is for changing how they look.
import fs from 'node:fs';
import path from 'node:path';
import { writeCharts } from './support/charts.ts';

const REPO_ROOT = path.resolve(import.meta.dirname, '..');
const RESULTS = path.join(REPO_ROOT, 'docs/bench');

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log('usage: scripts/node24 bench/charts.ts [docs/bench/<results>.json...]   (default: every docs/bench/*.json)');
  process.exit(0);
}
const files =
  args.length > 0
    ? args.map((file) => path.resolve(file))
    : fs
        .readdirSync(RESULTS)
        .filter((name) => name.endsWith('.json'))
        .sort()
        .map((name) => path.join(RESULTS, name));

let failed = false;
for (const file of files) {
  try {
    const written = writeCharts(file);
    const shown = written.map((svg) => `${path.relative(REPO_ROOT, svg)} (${(fs.statSync(svg).size / 1024).toFixed(1)} KiB)`);
    console.log(`${path.relative(REPO_ROOT, file)}: ${shown.length > 0 ? shown.join(', ') : 'no charts for this scenario'}`);
  } catch (error) {
    failed = true;
    console.error(`${path.relative(REPO_ROOT, file)}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
process.exit(failed ? 1 : 0);
