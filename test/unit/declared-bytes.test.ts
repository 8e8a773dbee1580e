import type { FastifyRequest } from 'fastify';
import t from 'tap';
import { declaredBytes } from '../../gateway/http/admit-before-body.js';

// What a body is charged against max_input_bytes before it is read (docs/security.md).
const request = (headers: Record<string, string>) => ({ headers }) as unknown as FastifyRequest;
const LIMIT = 1_048_576;

t.test('a plain body is charged its Content-Length, at most BODY_LIMIT_BYTES', async (t) => {
  t.equal(declaredBytes(request({ 'content-length': '1200' }), LIMIT), 1200);
  t.equal(declaredBytes(request({ 'content-length': '9999999' }), LIMIT), LIMIT);
  t.equal(declaredBytes(request({ 'content-length': '1200', 'content-encoding': 'identity' }), LIMIT), 1200);
});

t.test('a chunked or compressed body, whose size is known only once read, is charged the most it may be', async (t) => {
  t.equal(declaredBytes(request({ 'transfer-encoding': 'chunked' }), LIMIT), LIMIT);
  // 1,200 compressed bytes may decode to BODY_LIMIT_BYTES: charged as that, not as 1,200.
  t.equal(declaredBytes(request({ 'content-length': '1200', 'content-encoding': 'gzip' }), LIMIT), LIMIT);
  t.equal(declaredBytes(request({ 'content-length': '1200', 'content-encoding': 'br' }), LIMIT), LIMIT);
});
