import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import { build, distFileOf, ensureBuilt, isFresh } from '../../scripts/build.mjs';

// scripts/build.mjs on a package of its own in a temp dir: what it compiles, when dist/ counts
// as fresh, and that concurrent starts build once.
function tinyPackage(t: Test): string {
  const root = mkdtempSync(join(tmpdir(), 'agentbus-build-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'package.json'), '{ "type": "module" }\n');
  mkdirSync(join(root, 'common'));
  mkdirSync(join(root, 'gateway', 'playground'), { recursive: true });
  writeFileSync(join(root, 'common', 'answer.ts'), 'export const answer: number = 42;\n');
  writeFileSync(
    join(root, 'gateway', 'server.ts'),
    "import { answer } from '../common/answer.js';\nimport type { Server } from 'node:http';\n" +
      'export const served = (s?: Server): number => answer + (s ? 1 : 0);\n',
  );
  writeFileSync(join(root, 'gateway', 'playground', 'page.ts'), 'not compiled: served as it is\n');
  return root;
}

/** Sets a file's times ahead, as an edit after the last build would. */
const touchLater = (path: string) => utimesSync(path, new Date(), new Date(Date.now() + 60_000));

t.test('compiles each source to dist/, one .js per .ts, runnable by plain node', async (t) => {
  const root = tinyPackage(t);
  t.notOk(isFresh(root), 'no dist/ yet: stale');
  const { files } = await build(root);
  t.equal(files, 2, 'the playground folder is not compiled');
  t.ok(isFresh(root));
  const server = distFileOf('gateway/server.ts', root);
  t.equal(server, join(root, 'dist', 'gateway', 'server.js'));
  const mod = (await import(pathToFileURL(server).href)) as { served(): number };
  t.equal(mod.served(), 42, 'the compiled modules import each other with their .js names');
  t.notOk(existsSync(join(root, 'dist', 'gateway', 'playground')));
});

t.test('an edited, added or removed source makes dist/ stale; ensureBuilt rebuilds it', async (t) => {
  const root = tinyPackage(t);
  t.equal(await ensureBuilt(undefined, root), true, 'built: there was no dist/');
  t.equal(await ensureBuilt(undefined, root), false, 'fresh: nothing to do');

  touchLater(join(root, 'common', 'answer.ts'));
  t.notOk(isFresh(root), 'an edited file');
  t.equal(await ensureBuilt(undefined, root), true);

  writeFileSync(join(root, 'common', 'extra.ts'), 'export const extra = 1;\n');
  touchLater(join(root, 'common'));
  t.notOk(isFresh(root), 'an added file (its folder changed)');
  await ensureBuilt(undefined, root);
  t.ok(existsSync(join(root, 'dist', 'common', 'extra.js')));

  rmSync(join(root, 'common', 'extra.ts'));
  touchLater(join(root, 'common'));
  t.notOk(isFresh(root), 'a removed file');
  await ensureBuilt(undefined, root);
  t.notOk(existsSync(join(root, 'dist', 'common', 'extra.js')), 'its compiled file is gone too');

  touchLater(join(root, 'package.json'));
  t.notOk(isFresh(root), 'package.json counts as an input');
});

t.test('starts at once build once; a lock left by a dead process is taken over', async (t) => {
  const root = tinyPackage(t);
  const lines: string[] = [];
  const results = await Promise.all([1, 2, 3].map(() => ensureBuilt((line) => lines.push(line), root)));
  t.same(results.filter(Boolean).length, 1, 'one of them built, the others waited and found it fresh');
  t.match(lines[0], /^compiled 2 files to .*dist\/ in \d+ ms$/);

  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  mkdirSync(join(root, 'dist.lock'));
  writeFileSync(join(root, 'dist.lock', 'pid'), String(dead));
  touchLater(join(root, 'common', 'answer.ts'));
  t.equal(await ensureBuilt(undefined, root), true, 'built despite the stale lock');
  t.notOk(existsSync(join(root, 'dist.lock')), 'and the lock is released');
});

t.test('a syntax error fails the build and keeps the dist/ there was', async (t) => {
  const root = tinyPackage(t);
  await build(root);
  writeFileSync(join(root, 'common', 'answer.ts'), 'export const answer = ;\n');
  touchLater(join(root, 'common', 'answer.ts'));
  await t.rejects(ensureBuilt(undefined, root), /Build failed/);
  t.ok(existsSync(distFileOf('common/answer.ts', root)), 'the last good build is still in place');
  t.notOk(existsSync(join(root, 'dist.lock')), 'the lock is released');
});
