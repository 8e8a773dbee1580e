import { readFileSync } from 'node:fs';
import t from 'tap';
import { nodeEntry, PRODUCTION_NODE_FLAGS } from '../../scripts/lib/entry-point.js';

// `npm start` and the bench run what a systemd unit of docs/deploy.md runs: the same node options.
t.test('compiled entry points get their production flags, and the deploy guide shows the same', async (t) => {
  const deploy = readFileSync('docs/deploy.md', 'utf8');
  for (const [source, flags] of Object.entries(PRODUCTION_NODE_FLAGS)) {
    t.same(nodeEntry(source, true).execArgv, flags, `${source} runs compiled with ${flags.join(' ')}`);
    const compiled = `dist/${source.replace(/\.ts$/, '.js')}`;
    t.ok(
      deploy.includes(`ExecStart=/usr/bin/node ${[...flags, compiled].join(' ')}\n`),
      `docs/deploy.md starts ${compiled} with the same flags`,
    );
  }
  t.same(nodeEntry('gateway/server.ts', true).execArgv, [], 'the gateway runs with Node defaults');
  t.same(nodeEntry('workers/main.ts', false).execArgv, ['--import', 'tsx'], 'the sources run under tsx, as tests do');
});

t.test("the operator's NODE_OPTIONS keeps its own value of a flag", async (t) => {
  const before = process.env['NODE_OPTIONS'];
  t.teardown(() => {
    if (before === undefined) delete process.env['NODE_OPTIONS'];
    else process.env['NODE_OPTIONS'] = before;
  });
  process.env['NODE_OPTIONS'] = '--max-semi-space-size=64';
  t.same(nodeEntry('workers/main.ts', true).execArgv, [], 'not overridden by the command line');
});
