import { link, readdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { writeSync, type Stats } from 'node:fs';
import { setImmediate as afterIo } from 'node:timers/promises';
import { basename, dirname, join } from 'node:path';
import { mkdirPrivate, openPrivateForAppend } from '../../common/private-files.js';

/** Options of a {@link DailyFile}. */
export interface DailyFileOptions {
  /** Rotated files dated more than this many days before today are deleted; 0 keeps all. */
  retentionDays?: number;
  /** The clock that dates lines; injectable so tests can cross midnight. */
  now?: () => Date;
  /** Told about the first failure of a streak (the lines of failed writes are dropped). */
  onError?: (err: Error) => void;
}

/** The local calendar day of `date` as `YYYY-MM-DD`, the suffix of rotated files. */
export function dayKey(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

interface Pending {
  day: string;
  at: Date;
  text: string;
}

// Another process sits between its link() and unlink() for microseconds; this bounds how long
// we wait for it (and for a process that died there) before writing to the file as it is.
const ROTATE_ATTEMPTS = 50;
const ROTATE_RETRY_MS = 2;
const ROTATED_SUFFIX = /^(\d{4}-\d{2}-\d{2})(?:\.\d+)?$/;

/**
 * An append-only file of whole lines that several processes may write at once. Each batch of
 * lines is one write() on an O_APPEND descriptor, which Linux never interleaves with another
 * writer's. The lines queued in one event-loop turn make a batch, written synchronously once
 * that turn's I/O is handled: a write of a few hundred bytes to the page cache costs less than
 * handing it to libuv's thread pool, whose completion woke the event loop once more per batch.
 * When a line's day is later than the file's, the file is moved to `<path>.<day>` and a new one
 * started, by whichever process notices first.
 *
 * The file's day is its mtime, shared by every process: the kernel stamps it at each write,
 * and we stamp it with an injected clock after each write (tests crossing midnight).
 */
export class DailyFile {
  readonly path: string;
  readonly #retentionDays: number;
  readonly #now: () => Date;
  /** With the system clock the kernel's mtime already is each write's time: no stamp needed. */
  readonly #stamps: boolean;
  readonly #onError: (err: Error) => void;
  #handle: FileHandle | undefined;
  #day = '';
  #queue: Pending[] = [];
  #draining: Promise<void> | undefined;
  #failing = false;
  #closed = false;

  constructor(path: string, options: DailyFileOptions = {}) {
    this.path = path;
    this.#retentionDays = options.retentionDays ?? 0;
    this.#now = options.now ?? (() => new Date());
    this.#stamps = options.now !== undefined;
    this.#onError = options.onError ?? (() => {});
  }

  /** Queues `text` (one or more lines, each ending in "\n"); never throws. Ignored after close. */
  write(text: string): void {
    if (this.#closed) return;
    const at = this.#now();
    this.#queue.push({ day: dayKey(at), at, text });
    this.#draining ??= this.#drain();
  }

  /** Resolves once every line queued so far is written (or dropped after an error). */
  async flush(): Promise<void> {
    await this.#draining;
  }

  /** Flushes, then closes the file. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#draining;
    await this.#release();
  }

  async #drain(): Promise<void> {
    await afterIo();
    while (this.#queue.length > 0) {
      // One write per day's worth of queued lines: fewer syscalls, and a batch never straddles
      // a rotation.
      const day = this.#queue[0]!.day;
      let count = 1;
      while (count < this.#queue.length && this.#queue[count]!.day === day) count++;
      const batch = this.#queue.splice(0, count);
      try {
        await this.#writeBatch(day, batch.at(-1)!.at, batch.map((p) => p.text).join(''));
        this.#failing = false;
      } catch (err) {
        this.#report(err);
        // Start over on the next batch (mkdir, open) so a recreated directory is picked up.
        await this.#release();
      }
    }
    this.#draining = undefined;
  }

  async #writeBatch(day: string, at: Date, text: string): Promise<void> {
    if (!this.#handle || this.#day < day) await this.#prepare(day);
    const handle = this.#handle!;
    const bytes = Buffer.from(text);
    for (let offset = 0; offset < bytes.length;) offset += writeSync(handle.fd, bytes, offset);
    // A late line of an earlier day (clock set back, or a batch queued before midnight that
    // lands in a newer file) must not make the file look older than it is. A futimes() per
    // batch was ~4 % of the gateway's CPU at concurrency 32, so only an injected clock pays it.
    if (this.#stamps && this.#day === day) await handle.utimes(at, at).catch(() => {});
  }

  /** Opens the file for `day`, first rotating it away if it holds an earlier day's lines. */
  async #prepare(day: string): Promise<void> {
    // Prompts and answers: the owner's only, whatever the umask (0700 directory, 0600 file).
    await mkdirPrivate(dirname(this.path));
    try {
      for (let attempt = 0; attempt < ROTATE_ATTEMPTS; attempt++) {
        const current = await statOrUndefined(this.path);
        if (!current || current.size === 0 || dayKey(current.mtime) >= day) break;
        const outcome = await this.#rotate(dayKey(current.mtime), current.ino);
        if (outcome === 'rotated') await this.#prune(day);
        if (outcome === 'busy') await new Promise((resolve) => setTimeout(resolve, ROTATE_RETRY_MS));
      }
    } catch (err) {
      // A filesystem without hard links must not cost us the lines: keep appending unrotated.
      this.#report(err);
    }
    await this.#release();
    const handle = await openPrivateForAppend(this.path);
    const opened = await handle.stat();
    // Another process may have started a later day's file since we looked.
    const fileDay = opened.size > 0 ? dayKey(opened.mtime) : day;
    this.#handle = handle;
    this.#day = fileDay > day ? fileDay : day;
  }

  /**
   * Moves the file (inode `ino`, last written on `fileDay`) to `<path>.<fileDay>`. link() never
   * replaces an existing name, so when several processes rotate at once exactly one succeeds
   * and no rotated file is ever clobbered.
   */
  async #rotate(fileDay: string, ino: number): Promise<'rotated' | 'busy' | 'gone'> {
    for (let n = 0; n < 10; n++) {
      const target = `${this.path}.${fileDay}${n === 0 ? '' : `.${n}`}`;
      try {
        await link(this.path, target);
      } catch (err) {
        if (codeOf(err) === 'ENOENT') return 'gone';
        if (codeOf(err) !== 'EEXIST') throw err;
        // Same inode: another process is between its link() and unlink(). Otherwise the name
        // belongs to an older file of that day (the clock went back): try the next suffix.
        if ((await statOrUndefined(target))?.ino === ino) return 'busy';
        continue;
      }
      if ((await statOrUndefined(target))?.ino !== ino) {
        // The path changed under us (someone rotated and started a new file): undo our link.
        await unlink(target).catch(ignoreMissing);
        return 'gone';
      }
      if ((await statOrUndefined(this.path))?.ino === ino) await unlink(this.path).catch(ignoreMissing);
      return 'rotated';
    }
    return 'busy';
  }

  /** Deletes this file's rotated copies dated before `today - retentionDays`. */
  async #prune(today: string): Promise<void> {
    if (this.#retentionDays <= 0) return;
    const [y, m, d] = today.split('-').map(Number) as [number, number, number];
    const cutoff = dayKey(new Date(y, m - 1, d - this.#retentionDays));
    const dir = dirname(this.path);
    const prefix = `${basename(this.path)}.`;
    for (const name of await readdir(dir)) {
      const date = name.startsWith(prefix) ? ROTATED_SUFFIX.exec(name.slice(prefix.length))?.[1] : undefined;
      if (date !== undefined && date < cutoff) await unlink(join(dir, name)).catch(ignoreMissing);
    }
  }

  async #release(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close().catch(() => {});
  }

  #report(err: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    try {
      this.#onError(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // A failing reporter must not take the writer down with it.
    }
  }
}

const codeOf = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code;

function ignoreMissing(err: unknown): void {
  if (codeOf(err) !== 'ENOENT') throw err;
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    ignoreMissing(err);
    return undefined;
  }
}
