// Prints one plain closing line, `jest: N passed, N failed, N skipped`, that any CI log reader can
// parse without knowing Jest's own summary format; then, for each failed test, its file, name and
// the head of its failure message — a CI log that keeps only its end still says what failed.
const FAILURE_LINES = 12;
// eslint-disable-next-line no-control-regex -- Jest colours its messages; the summary is plain text.
const ANSI = /\u001b\[[0-9;]*m/g;
/** Stack frames of Jest itself and of Node: noise in a summary. */
const FOREIGN_FRAME = /^\s*at .*(node_modules|<anonymous>|node:internal)/;

export default class SummaryReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }

  onRunComplete(_contexts, results) {
    const line = `jest: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${results.numPendingTests} skipped`;
    const failures = [];
    for (const file of results.testResults) {
      const path = file.testFilePath.replace(`${this.rootDir}/`, '');
      // A file that failed outside any test (a syntax error, a failing hook) has no failed test.
      if (file.testExecError) failures.push(`FAILED ${path}\n  ${file.testExecError.message.replace(ANSI, '')}`);
      for (const test of file.testResults.filter((result) => result.status === 'failed')) {
        const head = test.failureMessages.join('\n').replace(ANSI, '').split('\n').filter((text) => text.trim() !== '' && !FOREIGN_FRAME.test(text)).slice(0, FAILURE_LINES);
        failures.push(`FAILED ${path} › ${test.fullName}\n${head.map((text) => `  ${text}`).join('\n')}`);
      }
    }
    process.stdout.write(`\n${line}\n${failures.map((failure) => `${failure}\n`).join('')}`);
  }
}
