// Tests run as native ESM (NODE_OPTIONS=--experimental-vm-modules is set by `npm test`), transpiled
// by SWC; type checking is a separate step (`npm run typecheck`).
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/{test,server,actors,shared,client}/**/*.test.ts'],
  // The real-n8n suite (*.test.n8n.ts) is opt-in: `npm run test:n8n` (scripts/test-n8n.ts).
  testPathIgnorePatterns: ['/node_modules/', '\\.test\\.n8n\\.ts$'],
  modulePathIgnorePatterns: ['<rootDir>/.cache/', '<rootDir>/data/', '<rootDir>/bench/peers/'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2024' }, module: { type: 'es6' } },
    ],
  },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60_000,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  // Test files share the real services started once by the global setup; each file isolates its
  // own state (database, key prefix, topics). Two workers fit the 2-core machines we run on.
  maxWorkers: 2,
};
