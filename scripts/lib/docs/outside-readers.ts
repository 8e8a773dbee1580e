import type { RecordedVariable } from '../../../common/env-recorder.js';
import type { ProcessName } from './config-sources.js';

/** A variable read where it is used rather than through a loader's EnvReader, documented here instead. */
export interface OutsideVariable extends Omit<RecordedVariable, 'fallback'> {
  fallback?: string;
  readers: readonly ProcessName[];
  /** The file that reads it (the docs-drift test checks that it still does). */
  file: string;
}

/**
 * Variables read outside the EnvReaders, each with the reason. They are not checked at start:
 * the logger reads its two when it is made, the Ollama client's key is read per call (as the
 * `ollama` package itself does), and the tests' own knobs only matter to a test run.
 */
export const VARIABLES_OUTSIDE_READERS: readonly OutsideVariable[] = [
  {
    name: 'LOG_LEVEL',
    kind: 'choice',
    fallback: 'info',
    allowed: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    doc: 'pino level; `debug` also prints the stack of a startup error. Info lines reach stdout up to 200 ms late',
    readers: ['gateway', 'worker'],
    file: 'common/logger.ts',
  },
  {
    name: 'LOG_FORMAT',
    kind: 'choice',
    allowed: ['json'],
    shownDefault: 'pretty on a terminal, else JSON',
    doc: '`json` forces JSON lines on a terminal too',
    readers: ['gateway', 'worker'],
    file: 'common/logger.ts',
  },
  {
    name: 'NODE_OPTIONS',
    kind: 'text',
    doc:
      "Node's own options for every process; a `--max-semi-space-size` here replaces the worker's production " +
      'value (32) instead of being overridden by it',
    readers: ['npm start'],
    file: 'scripts/lib/entry-point.ts',
  },
  {
    name: 'OLLAMA_API_KEY',
    kind: 'text',
    doc: "`ollama`: bearer key sent to `https://ollama.com` (Ollama's cloud) only, never to another server",
    readers: ['worker'],
    file: 'workers/providers/ollama/chat-stream.ts',
  },
  {
    name: 'FUZZ_SEED',
    kind: 'integer',
    fallback: '20240607',
    doc: 'seed of the fuzz test (`test/e2e/fuzz.test.ts` prints it; set it to replay a run)',
    readers: ['npm test'],
    file: 'test/e2e/fuzz.test.ts',
  },
  {
    name: 'FUZZ_COUNT',
    kind: 'integer',
    fallback: '10000',
    doc: 'requests the fuzz test generates',
    readers: ['npm test'],
    file: 'test/e2e/fuzz.test.ts',
  },
  {
    name: 'BENCH_PROFILE_DIR',
    kind: 'text',
    doc:
      'CPU profiles of gateway and worker during `bench/cpu-per-request.ts` (the A/B CPU measure); ' +
      'summarise them with `bench/profile-summary.ts`',
    readers: ['npm run bench'],
    file: 'bench/cpu-per-request.ts',
  },
  {
    name: 'BENCH_GC_DIR',
    kind: 'text',
    doc:
      "V8's record of each garbage collection in gateway and worker during `bench/cpu-per-request.ts` " +
      '(what the scavenges promote); summarise it with `bench/gc/summary.ts`',
    readers: ['npm run bench'],
    file: 'bench/cpu-per-request.ts',
  },
  {
    name: 'BENCH_PERF',
    kind: 'text',
    doc:
      'any value: gateway and workers of the bench stack start with `--perf-basic-prof`, so `perf record` names ' +
      'their compiled functions; summarise `perf script` output with `bench/perf-summary.ts`',
    readers: ['npm run bench'],
    file: 'bench/stack.ts',
  },
  {
    name: 'AGENTBUS_TEST_GGUF',
    kind: 'text',
    shownDefault: '`../shared/models/stories260K.gguf`',
    doc: 'the GGUF model the llama-cpp tests run through the whole stack',
    readers: ['npm test'],
    file: 'test/helpers/test-model.ts',
  },
  {
    name: 'AGENTBUS_TEST_NETNS',
    kind: 'text',
    doc:
      '`off`: the multi-host test (`test/e2e/multi-host.test.ts`) runs its hosts on 127.0.0.x, ' +
      'not in network namespaces',
    readers: ['npm test'],
    file: 'test/helpers/netns.ts',
  },
  {
    name: 'CHAOS_DEBUG',
    kind: 'text',
    doc:
      'set (to anything): the fault suite (`test/e2e/faults/reconcile-*.test.ts`) keeps each process log ' +
      'in the temp folder',
    readers: ['npm test'],
    file: 'test/helpers/chaos.ts',
  },
  {
    name: 'SCREENSHOT_TO',
    kind: 'text',
    doc: 'the browser test saves a screenshot of the playground there (`docs/playground.png`)',
    readers: ['npm test'],
    file: 'test/e2e/playground-browser.test.ts',
  },
];

/**
 * Names the code reads from the environment that are not agentbus settings: PATH, and how the
 * bench's floor processes (bench/floor/start.ts) tell their children their subject, database and
 * whether to keep the delivery contract.
 */
export const NOT_SETTINGS: readonly string[] = ['PATH', 'FLOOR_SUBJECT', 'FLOOR_DB', 'FLOOR_DELIVERY'];
