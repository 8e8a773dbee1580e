import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { createLogger } from '../../common/logger.js';
import {
  createTraceLog,
  traceIdOf,
  truncatePrompt,
  type TraceEntry,
  type TraceLogger,
} from '../../gateway/trace-log/trace-log.js';

const root = mkdtempSync(join(tmpdir(), 'agentbus-trace-log-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const freshDir = () => mkdtempSync(join(root, 'case-'));

const FIELDS = [
  'ts',
  'trace_id',
  'request_id',
  'session',
  'agent',
  'model',
  'prompt',
  'response_len',
  'cached',
  'status',
  'duration_ms',
];
const entry = (over: Partial<TraceEntry> = {}): TraceEntry => ({
  // Keys deliberately out of order: the file must not depend on the caller's order.
  duration_ms: 12,
  status: 200,
  cached: false,
  response_len: 42,
  prompt: 'hello',
  model: 'code_review',
  agent: 'code_review',
  session: 'conv_1',
  request_id: 'chatcmpl-1',
  trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
  ts: '2024-03-01T10:00:00.000Z',
  ...over,
});
const lines = (file: string): Array<Record<string, unknown>> =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

/** A logger that keeps what it is told, for assertions. */
const recorder = () => {
  const calls: Array<{ level: 'info' | 'warn'; obj: object; msg: string }> = [];
  const logger: TraceLogger = {
    info: (obj, msg) => calls.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => calls.push({ level: 'warn', obj, msg }),
  };
  return { calls, logger };
};

/** A clock the test moves by hand; local time, since files rotate on the local date. */
const clock = (start: Date) => {
  let current = start;
  return { now: () => current, set: (date: Date) => void (current = date) };
};
// Dates are in the past on purpose: between a write and its mtime stamp the file briefly
// carries the real (later) time, which reads as "newer" and so never triggers a rotation.
const day1 = new Date(2024, 2, 1, 23, 59, 59);
const day2 = new Date(2024, 2, 2, 0, 0, 1);
const day3 = new Date(2024, 2, 3, 0, 0, 1);

t.test('each line is JSON with exactly the documented keys, in order, and goes to the logger too', async (t) => {
  const dir = freshDir();
  const sink: string[] = [];
  const destination = new Writable({ write: (chunk, _enc, done) => (sink.push(String(chunk)), done()) });
  const trace = createTraceLog({
    dir,
    retentionDays: 0,
    promptMaxChars: 500,
    logger: createLogger('test', { destination }),
  });
  trace.record(entry({ error: 'ignored when the status is 200' }));
  trace.record(entry({ status: 504, error: 'upstream_timeout', response_len: 0 }));
  await trace.close();

  const [ok, failed] = lines(join(dir, 'code_review.log'));
  t.same(Object.keys(ok!), FIELDS);
  t.same(ok, { ...entry() });
  const withError = [...FIELDS.slice(0, -1), 'error', 'duration_ms'];
  t.same(Object.keys(failed!), withError, 'error sits between status and duration_ms');
  t.match(failed, { status: 504, error: 'upstream_timeout' });

  const logged = sink.map((line) => JSON.parse(line) as { level: number; msg: string; trace: object });
  t.equal(logged.length, 2);
  t.match(logged[0], { level: 30, msg: 'trace', trace: entry() });
  t.same(Object.keys(logged[1]!.trace), withError);
});

t.test('prompts are cut to the limit with "…", never through an emoji', async (t) => {
  t.equal(truncatePrompt('hello', 5), 'hello');
  t.equal(truncatePrompt('hello!', 5), 'hello…');
  t.equal(truncatePrompt('abc😀def', 4), 'abc😀…', 'the emoji at the cut stays whole');
  t.equal(truncatePrompt('abc😀def', 3), 'abc…');
  t.equal(truncatePrompt('a😀', 2), 'a😀', 'two code points fit in two characters');
  t.equal(truncatePrompt('anything', 0), '', '0 keeps no prompt at all');

  const dir = freshDir();
  const trace = createTraceLog({ dir, retentionDays: 0, promptMaxChars: 4, logger: recorder().logger });
  trace.record(entry({ prompt: 'abc😀😀😀' }));
  await trace.close();
  const raw = readFileSync(join(dir, 'code_review.log'), 'utf8');
  t.notMatch(raw, /\\ud[89a-f]/i, 'no escaped half surrogate in the file');
  t.equal(lines(join(dir, 'code_review.log'))[0]!.prompt, 'abc😀…');
});

t.test('agent names that are not safe file names go to _unknown.log, inside the directory', async (t) => {
  const parent = freshDir();
  const dir = join(parent, 'logs');
  const trace = createTraceLog({ dir, retentionDays: 0, promptMaxChars: 10, logger: recorder().logger });
  const bad = ['../../escape', '..', '.', '', 'a/b', 'a\\b', 'with.dot', 'x'.repeat(65), 'nul\0', '/etc/passwd'];
  for (const agent of bad) trace.record(entry({ agent }));
  trace.record(entry({ agent: 'Code_Review-2' }));
  await trace.close();
  t.same(readdirSync(parent), ['logs'], 'nothing written outside the directory');
  t.same(readdirSync(dir).sort(), ['Code_Review-2.log', '_unknown.log']);
  t.same(
    lines(join(dir, '_unknown.log')).map((line) => line.agent),
    bad,
    'the real name is kept inside the line',
  );
});

t.test('traceIdOf takes the trace id out of a traceparent', async (t) => {
  t.equal(traceIdOf('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), '4bf92f3577b34da6a3ce929d0e0e4736');
  t.equal(traceIdOf('00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01'), '4bf92f3577b34da6a3ce929d0e0e4736');
  t.equal(traceIdOf('garbage'), '');
});

t.test('several processes appending to the same file never tear or lose a line', async (t) => {
  const dir = freshDir();
  const writers = 4;
  const perWriter = 500;
  const fixture = fileURLToPath(new URL('./fixtures/trace-log-writer.ts', import.meta.url));
  const cwd = fileURLToPath(new URL('../..', import.meta.url));
  const children: ChildProcess[] = [];
  t.teardown(() => children.forEach((child) => child.exitCode === null && child.kill('SIGKILL')));

  const exits = Array.from({ length: writers }, (_, id) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir, String(id), String(perWriter)], {
      cwd,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    return new Promise<{ code: number | null; stderr: string }>((resolve) =>
      child.on('exit', (code) => resolve({ code, stderr })),
    );
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('writers did not finish within 60 s')), 60_000);
  });
  const results = await Promise.race([Promise.all(exits), timeout]).finally(() => clearTimeout(timer));
  for (const result of results) t.equal(result.code, 0, result.stderr);

  const raw = readFileSync(join(dir, 'shared.log'), 'utf8');
  t.ok(raw.endsWith('\n'));
  const all = raw.split('\n').slice(0, -1);
  t.equal(all.length, writers * perWriter, 'exact line count');
  const seen = new Set<string>();
  let broken = 0;
  for (const line of all) {
    try {
      const parsed = JSON.parse(line) as TraceEntry;
      if (parsed.prompt.length < 1900 || !parsed.prompt.startsWith(`writer ${parsed.request_id.split(':')[0]} `))
        broken++;
      seen.add(parsed.request_id);
    } catch {
      broken++;
    }
  }
  t.equal(broken, 0, 'every line parses and carries its own prompt');
  t.equal(seen.size, writers * perWriter, 'every line of every writer, once');
  t.same(readdirSync(dir), ['shared.log'], 'no rotation within a day');
});

t.test("a new day moves yesterday's lines to <agent>.log.<day>", async (t) => {
  const dir = freshDir();
  const time = clock(day1);
  const trace = createTraceLog({ dir, retentionDays: 0, promptMaxChars: 10, logger: recorder().logger, now: time.now });
  trace.record(entry({ request_id: 'd1-a' }));
  trace.record(entry({ request_id: 'd1-b' }));
  time.set(day2);
  trace.record(entry({ request_id: 'd2-a' }));
  await trace.flush();
  trace.record(entry({ request_id: 'd2-b' }));
  await trace.close();
  t.same(readdirSync(dir).sort(), ['code_review.log', 'code_review.log.2024-03-01']);
  t.same(
    lines(join(dir, 'code_review.log.2024-03-01')).map((l) => l.request_id),
    ['d1-a', 'd1-b'],
  );
  t.same(
    lines(join(dir, 'code_review.log')).map((l) => l.request_id),
    ['d2-a', 'd2-b'],
  );
});

t.test('a restart on a later day rotates the file left by the previous run', async (t) => {
  const dir = freshDir();
  const first = createTraceLog({
    dir,
    retentionDays: 0,
    promptMaxChars: 10,
    logger: recorder().logger,
    now: () => day1,
  });
  first.record(entry({ request_id: 'before' }));
  await first.close();
  const second = createTraceLog({
    dir,
    retentionDays: 0,
    promptMaxChars: 10,
    logger: recorder().logger,
    now: () => day2,
  });
  second.record(entry({ request_id: 'after' }));
  await second.close();
  t.same(
    lines(join(dir, 'code_review.log.2024-03-01')).map((l) => l.request_id),
    ['before'],
  );
  t.same(
    lines(join(dir, 'code_review.log')).map((l) => l.request_id),
    ['after'],
  );
});

t.test('two writers crossing midnight lose no line and clobber no rotated file', async (t) => {
  const dir = freshDir();
  const writers = ['a', 'b'].map((name) => {
    const time = clock(day1);
    const { calls, logger } = recorder();
    return {
      name,
      time,
      calls,
      trace: createTraceLog({ dir, retentionDays: 0, promptMaxChars: 10, logger, now: time.now }),
    };
  });
  const expected = new Map<string, string[]>();
  const burst = (tag: string, who = writers) => {
    for (let i = 0; i < 50; i++) {
      for (const w of who) {
        const id = `${tag}-${w.name}-${i}`;
        const day = tag.slice(0, 2);
        expected.set(day, [...(expected.get(day) ?? []), id]);
        w.trace.record(entry({ request_id: id }));
      }
    }
  };
  const [a, b] = writers as [(typeof writers)[0], (typeof writers)[0]];
  const flushAll = () => Promise.all(writers.map((w) => w.trace.flush()));

  burst('d1');
  await flushAll();
  // a crosses midnight and rotates while b, still a moment behind, appends to the old file.
  a.time.set(day2);
  b.time.set(new Date(2024, 2, 1, 23, 59, 59, 999));
  burst('d2', [a]);
  burst('d1-late', [b]);
  await flushAll();
  b.time.set(day2);
  burst('d2');
  await flushAll();
  // Both notice the next midnight at the same moment and race to rotate the same file.
  a.time.set(day3);
  b.time.set(day3);
  burst('d3');
  await Promise.all(writers.map((w) => w.trace.close()));

  // Which file a racing line lands in depends on the interleaving: the kernel stamps each
  // write with the real time, the writers stamp the injected one, and two writers' stamps can
  // cross. What must hold whatever the order: every line exactly once, no file clobbered.
  const files = readdirSync(dir).sort();
  t.ok(
    files.every((name) => /^code_review\.log(\.\d{4}-\d{2}-\d{2}(\.\d+)?)?$/.test(name)),
    `only the agent's file and dated rotations: ${files.join(', ')}`,
  );
  const all = files.flatMap((name) => lines(join(dir, name)).map((l) => String(l.request_id))).sort();
  t.same(all, [...expected.values()].flat().sort(), 'every line present exactly once');
  t.same(
    writers.flatMap((w) => w.calls.filter((c) => c.level === 'warn')),
    [],
    'no write failed',
  );
});

t.test('after a rotation, rotated files older than retentionDays are deleted', async (t) => {
  const dir = freshDir();
  const keep = ['x.log.2024-02-22', 'x.log.2024-02-25.1', 'x.log.notes', 'y.log.2024-01-01', 'x.log.2024-02-28'];
  const old = ['x.log.2024-01-31', 'x.log.2024-02-10', 'x.log.2024-02-21', 'x.log.2024-02-21.1'];
  for (const name of [...keep, ...old].filter((name) => name !== 'x.log.2024-02-28'))
    writeFileSync(join(dir, name), '{}\n');
  const time = clock(new Date(2024, 1, 28, 12));
  const trace = createTraceLog({ dir, retentionDays: 7, promptMaxChars: 10, logger: recorder().logger, now: time.now });
  trace.record(entry({ agent: 'x' }));
  await trace.flush();
  t.ok(existsSync(join(dir, 'x.log.2024-01-31')), 'nothing is deleted before a rotation');
  time.set(new Date(2024, 1, 29, 0, 0, 1)); // a leap day: the cut-off is 2024-02-22
  trace.record(entry({ agent: 'x' }));
  await trace.close();
  t.same(readdirSync(dir).sort(), [...keep, 'x.log'].sort());

  const keepAll = freshDir();
  for (const name of old) writeFileSync(join(keepAll, name), '{}\n');
  const forever = createTraceLog({
    dir: keepAll,
    retentionDays: 0,
    promptMaxChars: 10,
    logger: recorder().logger,
    now: () => day2,
  });
  forever.record(entry({ agent: 'x' }));
  await forever.close();
  t.same(readdirSync(keepAll).sort(), [...old, 'x.log'].sort(), '0 keeps every rotated file');
});

t.test('a write error never throws, is reported once, and the log recovers', async (t) => {
  const parent = freshDir();
  const dir = join(parent, 'logs');
  writeFileSync(dir, 'a file where the directory should be');
  const { calls, logger } = recorder();
  const trace = createTraceLog({ dir, retentionDays: 0, promptMaxChars: 10, logger });
  for (let i = 0; i < 5; i++) {
    t.doesNotThrow(() => trace.record(entry({ request_id: `lost-${i}` })));
    await trace.flush();
  }
  const warnings = calls.filter((c) => c.level === 'warn');
  t.equal(warnings.length, 1, 'one report for the whole streak');
  t.match(warnings[0], { obj: { file: join(dir, 'code_review.log'), err: { code: /^(EEXIST|ENOTDIR)$/ } } });
  t.equal(calls.filter((c) => c.level === 'info').length, 5, 'the logger still gets every entry');

  rmSync(dir);
  mkdirSync(dir);
  trace.record(entry({ request_id: 'back' }));
  await trace.close();
  t.same(
    lines(join(dir, 'code_review.log')).map((l) => l.request_id),
    ['back'],
  );
});
