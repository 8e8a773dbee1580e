import t from 'tap';
import { hintsFromHeaders } from '../../gateway/http/request-hints.js';

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
  t.end();
});
