import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { EnvReader } from '../../common/env.js';
import { readJsonConfig } from '../../common/json-config-file.js';
import { readDataDir } from '../../common/shared-settings.js';
import { keysFileSchema, type KeyEntry, type KeysFile } from './keys-file.schema.js';
import { ownSchemaAjv } from '../../bus-schemas/index.js';
import { makeDirs } from '../../common/make-dirs.js';

export type { KeyEntry, KeysFile };

/** Prefix of generated keys: recognisable in a config file or a leak report ("ab" for agentbus). */
export const KEY_PREFIX = 'ab-';
/** Tier of keys created without `--tier`. */
export const DEFAULT_TIER = 'standard';

/**
 * The keys file the environment names: KEYS_FILE, default `<DATA_DIR>/keys.json`; `none` for no
 * file. The gateway and `npm run keys` agree on it through this one function.
 */
export function keysFileFromEnv(read: EnvReader): string | undefined {
  const setting = read.string('KEYS_FILE', join(readDataDir(read), 'keys.json'), {
    doc: 'the keys file `npm run keys` manages (hashes, scopes, tiers); reloaded on change; `none`: no file',
    shownDefault: '`DATA_DIR/keys.json`',
  });
  return setting === 'none' ? undefined : setting;
}

const validateKeysFile = ownSchemaAjv({ strict: true, allErrors: false }).compile<KeysFile>(keysFileSchema);

/** Lower-case hex SHA-256 of a key: what the keys file stores instead of the key. */
export function sha256Hex(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * The tenant (owner of sessions) of a key, from its SHA-256 hex. The same form as for keys from
 * API_KEYS, so a key moved from API_KEYS into the keys file keeps its conversations.
 */
export function tenantOfDigest(sha256: string): string {
  return `key_${sha256.slice(0, 16)}`;
}

/** The tenant of a key itself: {@link tenantOfDigest} of its {@link sha256Hex}. */
export function tenantOfKey(key: string): string {
  return tenantOfDigest(sha256Hex(key));
}

/** A new random key: 32 bytes from the CSPRNG (256 bits), base64url, with {@link KEY_PREFIX}. */
export function generateKey(): string {
  return `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** A new entry id: short and random, so it reveals nothing about the key or its order. */
export function generateKeyId(): string {
  return `key-${randomBytes(6).toString('hex')}`;
}

/**
 * True when `path` names a file that exists (a missing keys file is an empty one). Only a stat:
 * the file is read once, by {@link readKeysFile}. A directory there is a mistake worth naming,
 * not a bare EISDIR.
 */
export function keysFileExists(path: string): boolean {
  let stat;
  try {
    stat = statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new Error(`cannot read keys file ${path} (KEYS_FILE): ${(err as Error).message}`, { cause: err });
  }
  if (stat.isDirectory())
    throw new Error(
      `keys file ${path} (KEYS_FILE) is a directory; ` +
        `KEYS_FILE must name a file, e.g. ${join(path, 'keys.json')} (it need not exist yet)`,
    );
  return true;
}

/**
 * The marker saying the keys file once listed a key: `<file>.had-keys`, beside it. A keys file
 * moved away or emptied must not bring back the public development key; deleting the marker
 * (with the file) is how an operator really starts over.
 */
export function keysMarkerOf(file: string): string {
  const path = resolve(file);
  return join(dirname(path), `${basename(path)}.had-keys`);
}

/** True when the keys file {@link keysMarkerOf once listed a key}. */
export function keysExisted(file: string): boolean {
  return existsSync(keysMarkerOf(file));
}

/** Leaves the {@link keysMarkerOf marker} (mode 0600) if it is not there yet. */
export function markKeysExisted(file: string): void {
  const marker = keysMarkerOf(file);
  if (existsSync(marker)) return;
  writeFileSync(marker, 'The keys file beside this one has listed keys: the development key stays off.\n', {
    mode: 0o600,
  });
}

/**
 * True when the keys file lists at least one entry (revoked ones count), or once did (its
 * marker). Read leniently, for the dev-key decision at configuration time: a broken file counts
 * as listing keys (the key store then stops the gateway with the exact problem).
 */
export function keysFileHasEntries(file: string): boolean {
  if (keysExisted(file)) return true;
  let text: string;
  try {
    text = readFileSync(resolve(file), 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
  try {
    const parsed = JSON.parse(text) as { keys?: unknown };
    return !Array.isArray(parsed.keys) || parsed.keys.length > 0;
  } catch {
    return true;
  }
}

/**
 * Reads and validates the keys file; a missing file holds no keys. Errors name the file,
 * KEYS_FILE and the field at fault (and, for duplicates, the entry).
 */
export function readKeysFile(file: string): KeysFile {
  if (!keysFileExists(resolve(file))) return { keys: [] };
  const { value, source } = readJsonConfig(
    file,
    { name: 'keys file', envVar: 'KEYS_FILE', subject: 'keys file' },
    validateKeysFile,
  );
  // Two entries with one name or id would make `revoke` ambiguous; one hash twice is a copy-paste slip.
  for (const field of ['id', 'name', 'sha256'] as const) {
    const seen = new Set<string>();
    value.keys.forEach((entry, index) => {
      if (seen.has(entry[field]))
        throw new Error(`invalid ${source}: keys[${index}].${field} repeats an earlier entry's ${field}`);
      seen.add(entry[field]);
    });
  }
  return value;
}

/**
 * Writes the keys file atomically (a temporary file in the same directory, then a rename), so a
 * gateway reloading it never reads half a file, with mode 0600: the hashes are not the keys, but
 * who has which scope is nobody else's business.
 */
export function writeKeysFile(file: string, content: KeysFile): void {
  const path = resolve(file);
  makeDirs(dirname(path), 0o700);
  const temp = join(dirname(path), `.${randomBytes(6).toString('hex')}.keys.tmp`);
  try {
    writeFileSync(temp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(temp, 0o600); // the umask may have narrowed the mode, never widened it; be exact
    renameSync(temp, path);
    if (content.keys.length > 0) markKeysExisted(path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}
