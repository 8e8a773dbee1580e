import { chmodSync, closeSync, openSync, statSync, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { makeDirs, makeDirsAsync } from './make-dirs.js';

/** Mode of directories holding prompts, answers, keys or credentials: the owner only. */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of files holding prompts, answers, keys or credentials: the owner only. */
export const PRIVATE_FILE_MODE = 0o600;

const isOurs = (stat: Stats) => process.getuid === undefined || stat.uid === process.getuid();

/**
 * Creates `dir` (and missing parents) with mode 0700, whatever the umask, and narrows an
 * existing one that others may enter. Only a directory of ours without the sticky bit is
 * narrowed: a DATA_DIR of `/tmp` (sticky, shared) is left alone rather than locking others out.
 */
export function ensurePrivateDir(dir: string): void {
  makeDirs(dir, PRIVATE_DIR_MODE);
  const stat = statSync(dir);
  const sticky = (stat.mode & 0o1000) !== 0;
  if ((stat.mode & 0o077) !== 0 && isOurs(stat) && !sticky) chmodSync(dir, PRIVATE_DIR_MODE);
}

/**
 * Creates `file` empty with mode 0600 if it is missing, and narrows it to 0600 if it exists:
 * the mode of open(2) is cut by the umask, never widened, so an explicit chmod makes it exact.
 */
export function ensurePrivateFile(file: string): void {
  closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
  narrowFile(file);
}

/** Narrows an existing file of ours to 0600 (a missing one is fine). */
export function narrowFile(file: string): void {
  let stat: Stats;
  try {
    stat = statSync(file);
  } catch {
    return;
  }
  if ((stat.mode & 0o777) !== PRIVATE_FILE_MODE && isOurs(stat)) chmodSync(file, PRIVATE_FILE_MODE);
}

/** Creates missing directories with mode 0700 (the umask only narrows it); an existing one stays as it is. */
export async function mkdirPrivate(dir: string): Promise<void> {
  await makeDirsAsync(dir, PRIVATE_DIR_MODE);
}

/** Opens `file` for appending, created with mode 0600 whatever the umask. */
export async function openPrivateForAppend(file: string): Promise<FileHandle> {
  const handle = await open(file, 'a', PRIVATE_FILE_MODE);
  const stat = await handle.stat();
  if ((stat.mode & 0o777) !== PRIVATE_FILE_MODE && isOurs(stat)) await handle.chmod(PRIVATE_FILE_MODE);
  return handle;
}
