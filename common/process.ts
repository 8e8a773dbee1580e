import { gatherLogLines, type Logger } from './logger.js';

/**
 * Runs `stop` once on the first SIGINT or SIGTERM, then exits. A second signal while stopping
 * exits at once, so an impatient Ctrl-C always works.
 */
export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    log.info({ signal }, 'stopping');
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handle).on('SIGTERM', handle);
  // A signal now drains and exits through process.exit, whose hooks flush the gathered lines.
  gatherLogLines();
  // Started by scripts/start.ts: if the supervisor dies, its IPC channel closes; stop with it
  // rather than linger as an orphan holding ports.
  if (process.send) process.once('disconnect', () => handle('SIGTERM'));
}

/** Tells a supervising parent (scripts/start.ts) over IPC that this process is ready. */
export function reportReady(details: Record<string, unknown>): void {
  process.send?.({ type: 'ready', ...details });
}

/**
 * Ends a process that could not start, with the reason on stderr. Startup errors name the
 * setting to fix, so the stack trace is noise unless LOG_LEVEL=debug asks for it.
 */
export function exitOnStartupError(what: string, err: unknown): never {
  const error = err as Error;
  process.stderr.write(`${what} could not start: ${error.message}\n`);
  if (process.env['LOG_LEVEL'] === 'debug' || process.env['LOG_LEVEL'] === 'trace')
    process.stderr.write(`${error.stack}\n`);
  process.exit(1);
}
