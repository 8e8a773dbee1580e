import t from 'tap';
import { createEngineInstall, type PackageInstaller } from '../../workers/audio/engine-install.js';
import { recordingLogger } from '../helpers/fake-provider.js';

// The "install once" state machine of a missing audio engine, against a fake installer whose
// installs finish when the test says so. Nothing is installed or removed for real.
function setup(options: { installable?: boolean; refusal?: string } = {}) {
  let installed: string | undefined;
  const calls: string[] = [];
  let finish!: (error?: Error) => void;
  const installer: PackageInstaller = {
    refusal: () => options.refusal,
    install(debianPackage) {
      calls.push(debianPackage);
      return new Promise<void>((resolve, reject) => {
        finish = (error) => (error ? reject(error) : resolve());
      });
    },
  };
  const { log } = recordingLogger();
  const engine = createEngineInstall(
    { name: 'espeak-ng', debianPackage: 'espeak-ng', find: () => installed, installable: options.installable ?? true },
    installer,
    log,
  );
  return {
    engine,
    calls,
    finish: (error?: Error) => finish(error),
    appear: () => (installed = '/usr/bin/espeak-ng'),
  };
}
const signal = () => new AbortController().signal;
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

t.test('an engine already there is used as it is', async (t) => {
  const { engine, calls, appear } = setup();
  appear();
  t.same(await engine.ensure(signal()), { path: '/usr/bin/espeak-ng' });
  t.same(calls, []);
});

t.test('concurrent requests wait for one install', async (t) => {
  const { engine, calls, finish, appear } = setup();
  const waiting = [engine.ensure(signal()), engine.ensure(signal()), engine.ensure(signal())];
  await tick();
  t.same(calls, ['espeak-ng'], 'apt-get ran once for all three');
  appear();
  finish();
  for (const lookup of await Promise.all(waiting)) t.same(lookup, { path: '/usr/bin/espeak-ng' });
  t.same(await engine.ensure(signal()), { path: '/usr/bin/espeak-ng' });
  t.equal(calls.length, 1);
});

t.test('a failed install is not retried: each request says why and names the command', async (t) => {
  const { engine, calls, finish, appear } = setup();
  const first = engine.ensure(signal());
  const second = engine.ensure(signal());
  await tick();
  finish(new Error('"apt-get install -y espeak-ng" failed (exit 100)'));
  for (const lookup of await Promise.all([first, second]))
    t.match(lookup, { path: undefined, why: /installing it failed: .*exit 100/, command: 'apt-get install espeak-ng' });
  t.match(await engine.ensure(signal()), { path: undefined, why: /exit 100/ });
  t.equal(calls.length, 1, 'no second apt-get');
  appear();
  t.same(await engine.ensure(signal()), { path: '/usr/bin/espeak-ng' }, 'installed by hand: found');
});

t.test('an install that ends without the binary says so', async (t) => {
  const { engine, finish } = setup();
  const lookup = engine.ensure(signal());
  await tick();
  finish();
  t.match(await lookup, { path: undefined, why: /package installed, but no espeak-ng binary/ });
});

t.test('not root: nothing is installed, the answer names the command', async (t) => {
  const { engine, calls } = setup({ refusal: 'the worker does not run as root, so it cannot install it' });
  t.same(await engine.ensure(signal()), {
    path: undefined,
    why: 'not installed, and the worker does not run as root, so it cannot install it',
    command: 'apt-get install espeak-ng',
  });
  t.same(calls, []);
});

t.test('a configured path the package would not fill is never installed', async (t) => {
  const { engine, calls } = setup({ installable: false });
  t.match(await engine.ensure(signal()), { path: undefined, why: 'not found at its configured path' });
  t.same(calls, []);
});

t.test('a request that gives up stops waiting; the install goes on for the next', async (t) => {
  const { engine, calls, finish, appear } = setup();
  const left = new AbortController();
  const waiting = engine.ensure(left.signal);
  await tick();
  left.abort(new Error('client left'));
  await t.rejects(waiting, { message: 'client left' });
  const next = engine.ensure(signal());
  await tick();
  appear();
  finish();
  t.same(await next, { path: '/usr/bin/espeak-ng' });
  t.equal(calls.length, 1, 'the same install');
});
