import type { FastifyInstance } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';
import { isLoopbackHost } from '../config.js';
import { headerLines } from './header-lines.js';

/** Listen addresses that stand for every interface: they name no host a client would use. */
const WILDCARDS = new Set(['', '0.0.0.0', '::', '[::]', '::0']);

/** The host name of a `Host` header, lower-case, without port, brackets or a trailing dot. */
export function hostNameOf(header: string): string {
  const value = header.trim().toLowerCase();
  const bracketed = /^\[([^\]]*)\](?::\d*)?$/.exec(value);
  const name = bracketed ? bracketed[1]! : value.replace(/:\d*$/, '');
  return name.replace(/\.$/, '');
}

/**
 * Which `Host` headers the gateway answers: loopback names and addresses (`localhost`,
 * `*.localhost`, 127.0.0.0/8, `::1`), the HOST it listens on unless that is a wildcard, and
 * ALLOWED_HOSTS (`*`: any). A request without a Host header (HTTP/1.0, not a browser) passes.
 */
export function hostAllowList(settings: { host: string; allowedHosts: readonly string[] }) {
  const listed = new Set(settings.allowedHosts.map(hostNameOf));
  if (!WILDCARDS.has(settings.host.trim())) listed.add(hostNameOf(settings.host));
  const any = listed.has('*');
  return (header: string | undefined): boolean => {
    if (header === undefined || any) return true;
    const name = hostNameOf(header);
    return listed.has(name) || isLoopbackHost(name) || name.endsWith('.localhost');
  };
}

/**
 * The host of an absolute-form request target (`POST http://example.com/v1/… HTTP/1.1`), which a
 * server must go by instead of the Host header (RFC 9112, section 3.2.2); undefined for the usual
 * origin form (`/v1/…`). A target that names no host is the empty string: never allowed.
 */
function targetHostOf(target: string | undefined): string | undefined {
  if (target === undefined || !/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) return undefined;
  try {
    return new URL(target).host;
  } catch {
    return '';
  }
}

/**
 * DNS rebinding: a page of evil.example whose name is made to resolve to 127.0.0.1 reaches the
 * gateway from the user's own browser, same-origin as far as the browser knows — but its
 * requests carry `Host: evil.example`. Refused here, first, for every route and the WebSocket
 * upgrade, before any key is looked at.
 */
export function refuseUnknownHosts(app: FastifyInstance, settings: { host: string; allowedHosts: readonly string[] }) {
  const allowed = hostAllowList(settings);
  app.addHook('onRequest', async (request, reply) => {
    // A browser never sends the absolute form to a gateway; a client that does names the host there.
    const host = targetHostOf(request.raw.url) ?? request.headers.host;
    // RFC 9112, section 3.2: an HTTP/1.1 request without Host is a 400 (HTTP/1.0 has none to send).
    const missing = request.headers.host === undefined && request.raw.httpVersion === '1.1';
    const repeated = !missing && headerLines(request.raw.rawHeaders, 'host') > 1;
    if (!missing && !repeated && allowed(host)) return;
    reply.header('connection', 'close');
    // A refused upgrade's socket is outside Node's HTTP timeouts: closed once the answer is out.
    if (request.headers.upgrade !== undefined) reply.raw.once('finish', () => request.raw.socket.destroy());
    if (missing)
      throw new AgentbusError('invalid_request', 'An HTTP/1.1 request must send a Host header.', { param: 'Host' });
    // Node keeps the first; a proxy in front may have gone by another (RFC 9112, section 3.2: a 400).
    if (repeated)
      throw new AgentbusError('invalid_request', 'The request sends more than one Host header; send one.', {
        param: 'Host',
      });
    throw new AgentbusError(
      'host_not_allowed',
      `Host ${JSON.stringify(host)} is not a name of this gateway: ` +
        'it answers loopback names, the HOST it listens on, and ALLOWED_HOSTS.',
    );
  });
}
