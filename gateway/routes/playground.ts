import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { isLoopbackPeer, type KeyStore } from '../auth/key-store.js';
import { DEV_API_KEY } from '../config.js';
import { packagePath } from '../../common/package-root.js';

// Read from the source tree (package root) also when this runs compiled from dist/: the page is
// plain HTML/CSS/JS with no build step, so there is no copy to go stale.
const PLAYGROUND_DIR = packagePath('gateway', 'playground');

/** The playground's files: read once at boot (a handful of KB), served from memory. */
const FILES = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/playground/playground.js': { file: 'playground.js', type: 'text/javascript; charset=utf-8' },
  '/playground/playground.css': { file: 'playground.css', type: 'text/css; charset=utf-8' },
  '/playground/microphone.js': { file: 'microphone.js', type: 'text/javascript; charset=utf-8' },
  '/playground/microphone.css': { file: 'microphone.css', type: 'text/css; charset=utf-8' },
  '/playground/speak.js': { file: 'speak.js', type: 'text/javascript; charset=utf-8' },
} as const;

/**
 * The browser playground at `/`: one page that talks to `/v1/ws` like any other client. It
 * needs no key to load; the socket it opens asks for one. No CDN, no external fetch: it works
 * on a machine without internet. The content security policy says so to the browser too.
 */
export async function playgroundRoutes(
  app: FastifyInstance,
  options: { keys: Pick<KeyStore, 'devKeyActive'> },
): Promise<void> {
  const csp =
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
    // blob: for the speak button's audio, fetched with the key and played from memory.
    "media-src 'self' blob:; base-uri 'none'; frame-ancestors 'none'";
  for (const [url, { file, type }] of Object.entries(FILES)) {
    const body = readFileSync(join(PLAYGROUND_DIR, file));
    app.get(url, async (_request, reply) =>
      reply
        .header('content-type', type)
        .header('cache-control', 'no-cache')
        .header('content-security-policy', csp)
        .header('x-content-type-options', 'nosniff')
        .send(body),
    );
  }
  // The built-in development key is public knowledge ("local-only"); prefilling it spares a new
  // user one step — only while it works: no key exists (asked now, not at boot) and the browser
  // is on this machine. A configured key is never sent.
  app.get('/playground/config.json', async (request) => ({
    dev_key: options.keys.devKeyActive() && isLoopbackPeer(request.socket.remoteAddress) ? DEV_API_KEY : null,
  }));
}
