import t from 'tap';
import { connectBus } from '../../common/bus.js';
import { natsServerAdvisory, natsServerVersionOf } from '../../common/nats-version.js';
import { findNatsServer } from '../../scripts/lib/nats-server.js';
import { recordingLogger } from '../helpers/fake-provider.js';
import { startTestNats } from '../helpers/nats.js';

// Issue 18, "Also": Debian's nats-server is 2.9.10, older than the fix for CVE-2023-47090.
// Every process warns when the server it connects to predates it; `npm start` too, for its own.

t.test('which versions predate the fix', async (t) => {
  for (const old of ['2.9.10', 'v2.9.22', '2.8.4', '2.10.0', '2.10.1', '1.4.1'])
    t.match(natsServerAdvisory(old), /CVE-2023-47090.*2\.9\.23 and 2\.10\.2.*docs\/security\.md/, old);
  for (const fixed of ['2.9.23', '2.9.25', '2.10.2', '2.10.22', '2.11.0', '2.12.1', '3.0.0'])
    t.equal(natsServerAdvisory(fixed), undefined, fixed);
  t.equal(natsServerAdvisory(undefined), undefined, 'no version: nothing to say');
  t.equal(natsServerAdvisory('unknown'), undefined);
});

t.test('a process connecting to the real nats-server warns exactly when it is outdated', async (t) => {
  const binary = findNatsServer()!;
  const version = natsServerVersionOf(binary);
  t.ok(version, `nats-server ${version}`);
  const nats = await startTestNats();
  t.teardown(() => nats.dispose());
  const { log, lines } = recordingLogger();
  const bus = await connectBus({ url: nats.url, role: 'gateway', name: 'version-check', log });
  await bus.drain(1000);
  const warnings = lines.filter((line) => /CVE-2023-47090/.test(String(line['msg'])));
  t.equal(warnings.length, natsServerAdvisory(version) === undefined ? 0 : 1);
  if (warnings.length) t.match(warnings[0], { level: 40, natsVersion: version });
});
