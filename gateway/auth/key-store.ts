import * as nodeCrypto from 'node:crypto';
import { createHash, timingSafeEqual } from 'node:crypto';
import { statSync, watch, type FSWatcher } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from '../../common/logger.js';
import { ReleasingSet } from '../../common/releasing-map.js';
import { isLoopbackHost } from '../config.js';
import type { Caller } from './caller.js';
import {
  keysExisted,
  keysMarkerOf,
  markKeysExisted,
  readKeysFile,
  tenantOfDigest,
  type KeysFile,
} from './keys-file.js';

/** How often the keys file's mtime, size and inode are checked, for changes fs.watch misses. */
export const KEYS_POLL_INTERVAL_MS = 1000;
/** The name keys from API_KEYS / PRIVATE_API_KEYS / the dev key carry (they have none of their own). */
export const ENV_KEY_NAMES = { apiKeys: 'api-keys', privateApiKeys: 'private-api-keys', devKey: 'dev' } as const;

/** One key the store accepts: the SHA-256 digest to compare with, and what it proves. */
export interface KnownKey {
  readonly digest: Buffer;
  readonly caller: Caller;
}

/** What the store needs to know besides the file. */
export interface KeyStoreOptions {
  /** KEYS_FILE; undefined: no file, only the keys from the environment. */
  keysFile: string | undefined;
  /** API_KEYS: every agent, tier `envTier`. */
  apiKeys: readonly string[];
  /** PRIVATE_API_KEYS: like API_KEYS, and every request private. */
  privateApiKeys: readonly string[];
  /** API_KEYS_TIER: the rate tier of the keys from the environment. */
  envTier: string;
  /**
   * The dev key, when the configuration allows it (no API_KEYS, loopback); it stops working once
   * the file lists a key.
   */
  devKey: string | undefined;
  log: Pick<Logger, 'info' | 'error'>;
  /** Default {@link KEYS_POLL_INTERVAL_MS}. */
  pollIntervalMs?: number;
}

/** Resolves presented API keys to callers, following the keys file as it changes. */
export interface KeyStore {
  /**
   * The caller a presented key proves, or undefined for an unknown or revoked key. The
   * development key proves something only from a loopback `peerAddress` (the socket's, never a
   * forwarded header): it is public, so only this machine may use it.
   */
  callerFor(presentedKey: string, peerAddress: string | undefined): Caller | undefined;
  /** True while the development key is accepted (from loopback): no key exists, nor ever did. */
  devKeyActive(): boolean;
  /** Reads the keys file again now; false (and the last good keys kept) when it is broken. */
  reload(): boolean;
  /**
   * Calls `listener` after each reload that read the file (keys may be revoked or rescoped):
   * long-lived connections (WebSockets) check their key again. Returns the unsubscribe function.
   */
  onChange(listener: () => void): () => void;
  /** Stops watching the file. */
  close(): void;
}

// Every request's key is digested: crypto.hash (Node ≥ 20.12; not in our @types/node yet) does
// it in one call, about a third of the cost of a Hash object.
const oneShotHash = (nodeCrypto as { hash?: (algorithm: string, data: string, encoding: 'buffer') => Buffer }).hash;
const sha256 = oneShotHash
  ? (value: string) => oneShotHash('sha256', value, 'buffer')
  : (value: string) => createHash('sha256').update(value).digest();

/**
 * The caller of the key whose digest is `presented`, comparing in constant time with every
 * known key (not stopping at a match), so timing tells neither which key matched nor how much
 * of a wrong one did. `equal` is there for the test that counts the comparisons.
 */
export function matchKey(
  known: readonly KnownKey[],
  presented: Buffer,
  equal: (a: Buffer, b: Buffer) => boolean = timingSafeEqual,
): Caller | undefined {
  let caller: Caller | undefined;
  for (const key of known) {
    if (equal(key.digest, presented)) caller = key.caller;
  }
  return caller;
}

/** True for a socket address on this machine (127.0.0.0/8, ::1, and 127.x mapped into IPv6). */
export const isLoopbackPeer = (address: string | undefined): boolean =>
  address !== undefined && isLoopbackHost(address.replace(/^::ffff:(?=\d)/i, ''));

const frozenCaller = (caller: Caller): Caller =>
  Object.freeze({ ...caller, agents: caller.agents === null ? null : Object.freeze([...caller.agents]) });

/** Keys from the environment (and the dev key): all agents, the environment's tier. */
function envKeys(options: KeyStoreOptions): KnownKey[] {
  const of = (key: string, name: string, isPrivate: boolean): KnownKey => {
    const digest = sha256(key);
    return {
      digest,
      caller: frozenCaller({
        tenant: tenantOfDigest(digest.toString('hex')),
        name,
        agents: null,
        tier: options.envTier,
        private: isPrivate,
      }),
    };
  };
  return [
    ...options.apiKeys.map((key) => of(key, ENV_KEY_NAMES.apiKeys, false)),
    ...options.privateApiKeys.map((key) => of(key, ENV_KEY_NAMES.privateApiKeys, true)),
  ];
}

/** The keys a file grants: revoked entries grant nothing. */
function fileKeys(file: KeysFile): KnownKey[] {
  return file.keys
    .filter((entry) => entry.revoked_at === undefined)
    .map((entry) => ({
      digest: Buffer.from(entry.sha256, 'hex'),
      caller: frozenCaller({
        tenant: tenantOfDigest(entry.sha256),
        name: entry.name,
        agents: entry.agents === '*' ? null : entry.agents,
        tier: entry.tier,
        private: entry.private === true,
      }),
    }));
}

/**
 * The gateway's key store. The file is read at creation — a broken file throws, naming
 * KEYS_FILE and the field, so the gateway does not start — and again whenever it changes:
 * fs.watch on its directory reacts at once, and a stat poll catches what fs.watch misses (an
 * atomic rename on some file systems, a directory created later, network mounts). A file
 * broken on reload keeps the last good keys, with an error in the log, so a slip while editing
 * does not lock every client out.
 */
export function createKeyStore(options: KeyStoreOptions): KeyStore {
  const { log } = options;
  const fromEnv = envKeys(options);
  const devDigest = options.devKey === undefined ? undefined : sha256(options.devKey);
  const devKey =
    devDigest === undefined
      ? []
      : [
          {
            digest: devDigest,
            caller: frozenCaller({
              tenant: tenantOfDigest(devDigest.toString('hex')),
              name: ENV_KEY_NAMES.devKey,
              agents: null,
              tier: options.envTier,
              private: false,
            }),
          },
        ];
  const path = options.keysFile === undefined ? undefined : resolve(options.keysFile);
  let known: KnownKey[] = [];
  let devActive = false;
  let lastError: string | undefined;
  let keysLost = false;
  // One per open stream or WebSocket, in a table as old as the gateway (common/releasing-map.ts).
  const listeners = new ReleasingSet<() => void>();

  let markerProblem: string | undefined;
  // Best effort: a keys file in a directory the gateway may not write (npm run keys, run by whoever
  // may, leaves the marker then) must not stop the gateway.
  const leaveMarker = (file: string) => {
    try {
      markKeysExisted(file);
    } catch (err) {
      const message = (err as Error).message;
      if (message !== markerProblem) log.error({ keysFile: file }, `cannot leave the keys marker: ${message}`);
      markerProblem = message;
    }
  };
  const load = (): void => {
    const file = path === undefined ? { keys: [] } : readKeysFile(path);
    if (path !== undefined && file.keys.length > 0) leaveMarker(path);
    // A file that listed keys and is now missing or empty (moved away, truncated) grants nothing.
    const lost = path !== undefined && file.keys.length === 0 && keysExisted(path);
    if (lost && !keysLost)
      log.error(
        { keysFile: path },
        `the keys file ${path} (KEYS_FILE) is missing or lists no key, but it listed keys before: ` +
          'no key of the file is valid and the development key stays off. Restore the file, or create a key ' +
          '("npm run keys -- create --name <name>"); to start over with the development key, ' +
          `delete ${keysMarkerOf(path)}`,
      );
    keysLost = lost;
    // The public dev key only while no key of the file exists (a revoked one counts: revoking the
    // last key must not reopen the gateway to the key printed in the README), nor ever did.
    devActive = devKey.length > 0 && file.keys.length === 0 && !lost;
    known = [...fromEnv, ...(devActive ? devKey : []), ...fileKeys(file)];
  };
  load(); // at boot a broken file throws: better no gateway than one with the wrong keys

  const store: KeyStore = {
    callerFor(presentedKey, peerAddress) {
      const caller = matchKey(known, sha256(presentedKey));
      if (caller !== undefined && caller === devKey[0]?.caller && !isLoopbackPeer(peerAddress)) return undefined;
      return caller;
    },
    devKeyActive: () => devActive,
    reload() {
      try {
        load();
        if (lastError !== undefined) log.info({ keysFile: path }, 'keys file readable again; its keys are in use');
        lastError = undefined;
        for (const listener of listeners.values()) {
          try {
            listener();
          } catch (err) {
            // One connection's trouble must not keep the others on a revoked key.
            log.error({ err }, 'a keys-file change listener failed');
          }
        }
        return true;
      } catch (err) {
        const message = (err as Error).message;
        // Once per distinct problem: the poll would repeat it every second.
        if (message !== lastError)
          log.error({ keysFile: path }, `${message}; keeping the keys last read from it (KEYS_FILE)`);
        lastError = message;
        return false;
      }
    },
    onChange(listener) {
      return listeners.add(listener);
    },
    close() {},
  };
  if (path === undefined) return store;

  const signature = () => {
    try {
      const stat = statSync(path);
      return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    } catch {
      return 'missing';
    }
  };
  let seen = signature();
  let watcher: FSWatcher | undefined;
  // The file, not its directory: that is usually DATA_DIR, where each SQLite write of a worker
  // on this host would wake the gateway. An atomic rename replaces the file a watch follows, so
  // every event re-arms the watch on the file there now; a missing file is left to the poll.
  const follow = () => {
    watcher?.close();
    watcher = undefined;
    try {
      const own = watch(path, { persistent: false }, () => {
        follow();
        check(true);
      });
      own.on('error', () => {
        own.close();
        if (watcher === own) watcher = undefined; // the poll carries on, and re-arms on a change
      });
      watcher = own;
    } catch {
      // No file yet (no key created so far): the poll notices when it appears.
    }
  };
  // Set by a poll that found no file. An editor's save moves the old file aside before it writes
  // the new one, so only a file missing at two polls in a row is gone; a watch event never decides it.
  let missingAtLastPoll = false;
  const check = (fromWatch = false) => {
    const now = signature();
    const missing = now === 'missing';
    // A changed signature is often a new inode (a rename): the watch follows it, even one it missed.
    if (!missing && (watcher === undefined || (!fromWatch && now !== seen))) follow();
    if (missing && seen !== 'missing') {
      const gone = !fromWatch && missingAtLastPoll;
      if (!fromWatch) missingAtLastPoll = true;
      if (!gone) return;
    } else if (!fromWatch) missingAtLastPoll = false;
    if (now === seen) return;
    seen = now;
    store.reload();
  };
  const poll = setInterval(check, options.pollIntervalMs ?? KEYS_POLL_INTERVAL_MS);
  poll.unref();
  follow();
  store.close = () => {
    clearInterval(poll);
    watcher?.close();
  };
  return store;
}
