import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { AgentbusError } from '../../bus-schemas/index.js';
import { answerOnSocket } from './errors.js';

// Hop-by-hop headers of an upgrade the gateway does not take: left out when it is served as HTTP/1.1.
const UPGRADE_HEADERS = new Set(['upgrade', 'http2-settings']);

/** True when the request asks to upgrade to WebSocket (`Upgrade: websocket`, in any case, among others). */
function asksForWebsocket(request: IncomingMessage): boolean {
  const upgrade = request.headers.upgrade ?? '';
  return upgrade.split(',').some((protocol) => protocol.trim().toLowerCase() === 'websocket');
}

// RFC 6455, section 4.2.1: the key is 16 random bytes in base64; ws serves versions 8 and 13.
const WEBSOCKET_KEY = /^[+/0-9A-Za-z]{22}==$/;

const VERSION_FAULT = 'Sec-WebSocket-Version must be 13';
// RFC 6455, section 4.4: a server refusing the version names those it serves.
const VERSIONS_SERVED = { 'Sec-WebSocket-Version': '13, 8' };

/**
 * What makes a WebSocket upgrade one ws would refuse (with a plain-text 400), checked first so the
 * answer has the OpenAI error shape; undefined when it is well formed.
 */
function handshakeFault(request: IncomingMessage): string | undefined {
  if (request.method !== 'GET') return `a WebSocket upgrade is a GET, not ${request.method}`;
  const key = request.headers['sec-websocket-key'];
  if (key === undefined || !WEBSOCKET_KEY.test(key)) return 'Sec-WebSocket-Key is missing or not 16 bytes in base64';
  const version = request.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') return VERSION_FAULT;
  const protocols = request.headers['sec-websocket-protocol'];
  if (protocols !== undefined) {
    const names = protocols.split(',').map((name) => name.trim());
    if (names.some((name) => !TOKEN.test(name)) || new Set(names).size !== names.length)
      return 'Sec-WebSocket-Protocol must list distinct names (tokens), separated by commas';
  }
  return undefined;
}

// RFC 9110's token, which each subprotocol name is (RFC 6455, section 4.1).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The request's head as it would have come without its upgrade: its own raw headers, less the upgrade's. */
function headWithoutUpgrade(request: IncomingMessage): Buffer {
  const lines = [`${request.method} ${request.url} HTTP/${request.httpVersion}`];
  const raw = request.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (UPGRADE_HEADERS.has(lower)) continue;
    if (lower === 'connection') {
      const rest = value
        .split(',')
        .map((token) => token.trim())
        .filter((token) => token !== '' && !UPGRADE_HEADERS.has(token.toLowerCase()));
      if (rest.length > 0) lines.push(`${name}: ${rest.join(', ')}`);
      continue;
    }
    lines.push(`${name}: ${value}`);
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/**
 * The upgrade requests @fastify/websocket should see: WebSocket ones only. Node hands every
 * request with an `Upgrade` header to the server's upgrade listeners once there is one, and the
 * plugin answered any other (curl --http2 sends `Upgrade: h2c`) with a 400, or a POST's unread
 * body with a misleading Content-Length error. A server may ignore an upgrade it does not offer
 * (RFC 9110, section 7.8): such a request goes back to the server as a new connection whose first
 * bytes are its head without the upgrade headers, then what the client sent after it, and is
 * served as HTTP/1.1 (`connection` is the documented way to inject one).
 */
export function websocketUpgradesOnly(server: Server): EventEmitter {
  const websocketUpgrades = new EventEmitter();
  const lastResponse = lastResponses(server);
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (asksForWebsocket(request)) {
      const wrong = handshakeFault(request);
      if (wrong === undefined) websocketUpgrades.emit('upgrade', request, socket, head);
      else
        answerOnSocket(
          socket,
          new AgentbusError('invalid_request', `Bad WebSocket handshake: ${wrong}.`),
          wrong === VERSION_FAULT ? VERSIONS_SERVED : {},
        );
      return;
    }
    // Node keeps only the first headers in rawHeaders: served again without the rest (a
    // Content-Length among them), the body would be read as the next request.
    if (request.rawHeaders.length >= rawHeadersKept(server)) {
      answerOnSocket(
        socket,
        new AgentbusError('headers_too_large', 'The request has more headers than the gateway reads; send fewer.'),
      );
      return;
    }
    const again = () => {
      if (socket.destroyed) return;
      socket.unshift(Buffer.concat([headWithoutUpgrade(request), head]));
      server.emit('connection', socket);
    };
    // After pipelined requests, once their responses are out: the connection served again starts
    // with no response of the old one waiting, else it would queue its own behind them forever.
    const last = lastResponse.get(socket);
    if (last === undefined || last.closed) again();
    else last.once('close', again);
  });
  return websocketUpgrades;
}

/** How many rawHeaders entries (two per header) Node keeps at most; more were dropped. */
function rawHeadersKept(server: Server): number {
  const count = server.maxHeadersCount;
  if (typeof count === 'number' && count > 0) return count * 2;
  return count === 0 ? Infinity : 2000;
}

/**
 * The last response of each socket. HTTP/1.1 answers a connection's requests in order, so once the
 * last is out, all are: one WeakMap write per request, no listener.
 */
function lastResponses(server: Server): WeakMap<Duplex, ServerResponse> {
  const bySocket = new WeakMap<Duplex, ServerResponse>();
  server.on('request', (request: IncomingMessage, response: ServerResponse) => bySocket.set(request.socket, response));
  return bySocket;
}
