// Prints one plain closing line, `jest: N passed, N failed, N skipped`, that any CI log reader can
// parse without knowing Jest's own summary format.
export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const line = `jest: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${results.numPendingTests} skipped`;
    process.stdout.write(`\n${line}\n`);
  }
}
