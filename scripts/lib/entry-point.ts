import { join } from 'node:path';
import { COMPILED, DIST_DIR, PACKAGE_ROOT } from '../../common/package-root.js';

/** How node runs one of our entry points: the file, and the node options before it. */
export interface NodeEntry {
  file: string;
  execArgv: string[];
}

/**
 * The command for an entry point named by its source (`workers/main.ts`). A compiled parent
 * (`npm start`, the bench: production) starts the compiled child from dist/ as plain node, which
 * serves in a fraction of tsx's start time; a parent running the sources under tsx (the tests)
 * starts the child's source the same way, so a test sees the code as edited, with no build.
 * `compiled` overrides the choice (a test of the production path).
 */
export function nodeEntry(source: string, compiled = COMPILED): NodeEntry {
  if (!compiled) return { file: join(PACKAGE_ROOT, source), execArgv: ['--import', 'tsx'] };
  return { file: join(DIST_DIR, source.replace(/\.ts$/, '.js')), execArgv: productionFlags(source) };
}

/** The entry's production flags, less those the operator's NODE_OPTIONS sets (a command-line flag would win). */
function productionFlags(source: string): string[] {
  const nodeOptions = process.env['NODE_OPTIONS'] ?? '';
  return (PRODUCTION_NODE_FLAGS[source] ?? []).filter((flag) => !nodeOptions.includes(flag.split('=')[0]!));
}

/**
 * Node options of an entry point in production; docs/deploy.md's units carry the same. The worker's
 * young generation at 32 MiB a half instead of 16: it scavenges half as often for about the same
 * work each time (BENCHMARKS.md, "Measured and kept as they are"). Not the gateway's: its RSS per
 * idle WebSocket session would grow.
 */
export const PRODUCTION_NODE_FLAGS: Readonly<Record<string, readonly string[]>> = {
  'workers/main.ts': ['--max-semi-space-size=32'],
};
