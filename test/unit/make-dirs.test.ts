import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { makeDirs, makeDirsAsync } from '../../common/make-dirs.js';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-make-dirs-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('creates the missing directories, each with the mode; an existing one is fine', async (t) => {
  makeDirs(join(dir, 'a', 'b', 'c'), 0o700);
  t.equal(statSync(join(dir, 'a', 'b', 'c')).mode & 0o777, 0o700);
  t.equal(statSync(join(dir, 'a')).mode & 0o777, 0o700, 'the parents too');
  makeDirs(join(dir, 'a', 'b'));
  await makeDirsAsync(join(dir, 'x', 'y'), 0o700);
  t.ok(statSync(join(dir, 'x', 'y')).isDirectory());
  await makeDirsAsync(join(dir, 'x', 'y'));
});

t.test('fails with the error of the directory it cannot make', async (t) => {
  writeFileSync(join(dir, 'file'), '');
  t.throws(() => makeDirs(join(dir, 'file', 'sub')), { code: 'ENOTDIR' });
  t.throws(() => makeDirs(join(dir, 'file')), { code: 'EEXIST' }, 'a file where the directory goes');
  await t.rejects(makeDirsAsync(join(dir, 'file')), { code: 'EEXIST' });
  await t.rejects(makeDirsAsync(join(dir, 'file', 'sub')), { code: 'ENOTDIR' });
});

// Node 20's mkdirSync({ recursive: true }) spins for ever here, as mkdir(2) answers ENOENT.
t.test('under /proc: ENOENT at once, not a loop', { skip: process.platform !== 'linux' }, async (t) => {
  t.throws(() => makeDirs('/proc/agentbus-no-such/keys'), { code: 'ENOENT' });
  await t.rejects(makeDirsAsync('/proc/agentbus-no-such/keys'), { code: 'ENOENT' });
});
