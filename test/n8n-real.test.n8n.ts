// The n8n provider cases (test/support/n8n-cases.ts) against a real n8n, started by
// `npm run test:n8n` (scripts/test-n8n.ts), which passes N8N_URL and N8N_API_KEY. Not part of the
// default `npm test` run (jest.config.js ignores *.test.n8n.ts).
import { describeN8nProvider } from './support/n8n-cases.ts';

const baseUrl = process.env.N8N_URL;
const apiKey = process.env.N8N_API_KEY;
if (!baseUrl || !apiKey) throw new Error('run with `npm run test:n8n`: N8N_URL and N8N_API_KEY are set by scripts/test-n8n.ts');

describeN8nProvider('the n8n provider (real n8n)', () => ({ baseUrl, apiKey }));
