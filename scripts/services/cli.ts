// `npm run services -- [postgres redis kafka stripe mail]`: starts throwaway services (all by default),
// prints `export TEST_...=...` lines for a shell, and keeps them up until Ctrl-C or SIGTERM.
// Reused services (TEST_* already set) are printed as they are; with nothing started it still waits.
import { describeTimings, isServiceName, SERVICE_NAMES, startServices } from './index.ts';

const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !isServiceName(name));
if (unknown.length > 0) {
  console.error(`unknown service ${unknown.join(', ')}; choose from: ${SERVICE_NAMES.join(' ')}`);
  process.exit(2);
}
const names = requested.filter(isServiceName);

const services = await startServices(names.length > 0 ? names : SERVICE_NAMES);
for (const [variable, value] of Object.entries(services.env)) console.log(`export ${variable}='${value}'`);
console.error(`# started: ${describeTimings(services.timings)}. Ctrl-C stops them.`);

// Stay up until asked to stop. SIGINT/SIGTERM are handled in one place, system.ts: it stops every
// service it started, deletes their temp dirs, then exits. The interval keeps the process alive.
setInterval(() => {}, 1 << 30);
