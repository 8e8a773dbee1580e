import t from 'tap';
import { hintsFromHeaders, singleHeader } from '../../gateway/http/request-hints.js';

// The per-request hints of HTTP headers: a malformed timeout the client set is a 400 naming it.

t.test('X-Request-Timeout-Ms takes plain digits only; the SDK timeout is used when it parses', (t) => {
  t.equal(hintsFromHeaders({ 'x-request-timeout-ms': '1500' }).timeoutMs, 1500);
  for (const value of ['1e3', '0x3e8', ' 1000', '1000.0', '', '-5', '99999999999']) {
    t.throws(
      () => hintsFromHeaders({ 'x-request-timeout-ms': value }),
      { code: 'invalid_request', param: 'X-Request-Timeout-Ms' },
      JSON.stringify(value),
    );
  }
  t.equal(hintsFromHeaders({ 'x-stainless-timeout': '2.5' }).timeoutMs, 2500);
  t.equal(hintsFromHeaders({ 'x-stainless-timeout': 'soon' }).timeoutMs, undefined);
  // Only the SDK's is a wait for the headers (it reads a stream on without a limit); ours is the whole answer's.
  t.equal(hintsFromHeaders({ 'x-stainless-timeout': '2.5' }).timeoutUntilHeaders, true);
  t.equal(
    hintsFromHeaders({ 'x-request-timeout-ms': '1500', 'x-stainless-timeout': '2.5' }).timeoutUntilHeaders,
    undefined,
  );
  t.end();
});

t.test('a hint header sent twice is named as such, not as malformed', (t) => {
  // Node joins a repeated header with ", " (a proxy adding its own copy, say).
  for (const [key, name] of [
    ['x-priority', 'X-Priority'],
    ['x-private', 'X-Private'],
    ['x-request-timeout-ms', 'X-Request-Timeout-Ms'],
  ] as const) {
    t.throws(
      () =>
        hintsFromHeaders({
          [key]: key === 'x-priority' ? 'low, high' : key === 'x-private' ? 'true, true' : '1000, 2000',
        }),
      { code: 'invalid_request', param: name, message: new RegExp(`^${name} holds several values .*send it once`) },
      name,
    );
  }
  t.throws(() => singleHeader({ 'x-session-id': ['conv_a', 'conv_b'] }, 'x-session-id', 'X-Session-ID'), {
    param: 'X-Session-ID',
    message: 'X-Session-ID holds several values ("conv_a, conv_b"): send it once.',
  });
  t.equal(singleHeader({ 'x-session-id': 'conv_a' }, 'x-session-id', 'X-Session-ID'), 'conv_a');
  t.equal(singleHeader({}, 'x-session-id', 'X-Session-ID'), undefined);
  t.end();
});
