import { join } from 'node:path';
import { DailyFile } from './daily-file.js';

/** One request/response, as written to `<dir>/<agent>.log` (keys in this order). */
export interface TraceEntry {
  /** When the request arrived, ISO 8601. */
  ts: string;
  /** The 32 hex digits of the W3C trace id (see {@link traceIdOf}). */
  trace_id: string;
  request_id: string;
  /** Conversation id, or null for a one-off request. */
  session: string | null;
  agent: string;
  model: string;
  /** Text of the last user message; cut to `promptMaxChars` by {@link TraceLog.record}. */
  prompt: string;
  /** Length of the answer in UTF-16 code units (`string.length`). */
  response_len: number;
  cached: boolean;
  /** HTTP status: 200, or the error's status. */
  status: number;
  /** Error code; written only when `status` is not 200. */
  error?: string;
  duration_ms: number;
}

/** The smallest logger the trace log needs; a pino `Logger` fits. */
export interface TraceLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Options of {@link createTraceLog}. */
export interface TraceLogOptions {
  dir: string;
  /** Rotated files older than this many days are deleted; 0 keeps all. */
  retentionDays: number;
  /** Longest prompt kept, in characters (code points); 0 logs no prompt at all. */
  promptMaxChars: number;
  logger: TraceLogger;
  now?: () => Date;
}

/** Per-agent JSON-lines trace files, mirrored to the logger. */
export interface TraceLog {
  /** Appends one line for `entry` and logs it; never throws, never waits for the disk. */
  record(entry: TraceEntry): void;
  /** Resolves once every line recorded so far has reached the files. */
  flush(): Promise<void>;
  /** Flushes and closes every file; later records are ignored. */
  close(): Promise<void>;
}

// Agent names become file names, so anything else (dots, slashes) could escape `dir`.
const SAFE_AGENT = /^[a-z0-9_-]{1,64}$/i;
/** File (without `.log`) that receives entries whose agent name is not safe as a file name. */
export const UNKNOWN_AGENT_FILE = '_unknown';

const TRACE_ID = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/i;

/** The trace id of a W3C `traceparent` value, lower-cased; "" when it is not one. */
export function traceIdOf(traceparent: string): string {
  return TRACE_ID.exec(traceparent.trim())?.[1]?.toLowerCase() ?? '';
}

/**
 * The first `max` code points of `text`, plus "…" when something was cut. Counting code
 * points rather than UTF-16 units keeps an emoji whole instead of leaving half a surrogate
 * pair, which JSON can only carry as an escaped, broken character.
 */
export function truncatePrompt(text: string, max: number): string {
  if (max <= 0) return '';
  if (text.length <= max) return text;
  let end = 0;
  for (let count = 0; count < max && end < text.length; count++) {
    const unit = text.charCodeAt(end);
    const pair = unit >= 0xd800 && unit <= 0xdbff && isLowSurrogate(text.charCodeAt(end + 1));
    end += pair ? 2 : 1;
  }
  return end >= text.length ? text : `${text.slice(0, end)}…`;
}

const isLowSurrogate = (unit: number) => unit >= 0xdc00 && unit <= 0xdfff;

/** Opens (lazily, one per agent) the trace files under `options.dir`. */
export function createTraceLog(options: TraceLogOptions): TraceLog {
  const { dir, retentionDays, promptMaxChars, logger, now } = options;
  const files = new Map<string, DailyFile>();
  let closed = false;

  const fileFor = (agent: string): DailyFile => {
    const name = SAFE_AGENT.test(agent) ? agent : UNKNOWN_AGENT_FILE;
    let file = files.get(name);
    if (!file) {
      const path = join(dir, `${name}.log`);
      file = new DailyFile(path, {
        retentionDays,
        ...(now ? { now } : {}),
        onError: (err) =>
          logger.warn({ err, file: path }, 'trace log: cannot write, dropping lines until it works again'),
      });
      files.set(name, file);
    }
    return file;
  };

  return {
    record(entry) {
      if (closed) return;
      // Built key by key so the order on disk is the documented one, whatever the caller's.
      const line: TraceEntry = {
        ts: entry.ts,
        trace_id: entry.trace_id,
        request_id: entry.request_id,
        session: entry.session,
        agent: entry.agent,
        model: entry.model,
        prompt: truncatePrompt(entry.prompt, promptMaxChars),
        response_len: entry.response_len,
        cached: entry.cached,
        status: entry.status,
        ...(entry.status !== 200 && entry.error !== undefined ? { error: entry.error } : {}),
        duration_ms: entry.duration_ms,
      };
      logger.info({ trace: line }, 'trace');
      fileFor(entry.agent).write(`${JSON.stringify(line)}\n`);
    },
    async flush() {
      await Promise.all([...files.values()].map((file) => file.flush()));
    },
    async close() {
      closed = true;
      await Promise.all([...files.values()].map((file) => file.close()));
    },
  };
}
