// `node scripts/run.mjs gateway/server.ts [args…]`: what the npm scripts run. It builds dist/
// when it is missing or older than the sources (scripts/build.mjs), then runs the compiled entry
// point in this very process: plain JavaScript, no TypeScript loader at start, and no process in
// between (signals, `exec` in `npm start`, the pid a supervisor prints stay what they were).
import { pathToFileURL } from 'node:url';
import { distFileOf, ensureBuilt } from './build.mjs';

const [source, ...args] = process.argv.slice(2);
if (!source?.endsWith('.ts')) {
  process.stderr.write('usage: node scripts/run.mjs <entry point, e.g. gateway/server.ts> [arguments…]\n');
  process.exit(2);
}
try {
  await ensureBuilt((line) => process.stderr.write(`[agentbus] ${line}\n`));
} catch (err) {
  process.stderr.write(`[agentbus] could not compile the sources: ${err.message}\n`);
  process.exit(1);
}
const file = distFileOf(source);
// The entry point sees the argv it would have had run directly: `node dist/gateway/server.js …`.
process.argv.splice(1, process.argv.length - 1, file, ...args);
await import(pathToFileURL(file).href);
