import { compileValidatorsNow } from '../bus-schemas/lazy-validator.js';
import { gatherLogLines, type Logger } from './logger.js';

// What to do when the supervisor's IPC channel closes: exit at once until onShutdown knows how to drain.
let whenSupervisorGone = (): void => process.exit(1);
let watchingSupervisor = false;

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
  exitWithSupervisor();
  // From now on a supervisor that dies gets the graceful stop (see exitWithSupervisor).
  whenSupervisorGone = () => handle('SIGTERM');
}

/**
 * Started by scripts/start.ts (an IPC channel): when the supervisor dies, even by SIGKILL, its
 * channel closes; stop with it rather than linger as an orphan holding ports or retrying a NATS
 * that is gone. Call first thing in main(): a process still starting just exits; once
 * {@link onShutdown} ran, it drains as on SIGTERM.
 */
export function exitWithSupervisor(): void {
  if (!process.send || watchingSupervisor) return;
  watchingSupervisor = true;
  process.once('disconnect', () => whenSupervisorGone());
}

/** Tells a supervising parent (scripts/start.ts) over IPC that this process is ready. */
export function reportReady(details: Record<string, unknown>): void {
  process.send?.({ type: 'ready', ...details });
  // The validators left to compile on first use (bus-schemas/lazy-validator.ts), now that the
  // start is done: before a request needs one.
  setImmediate(compileValidatorsNow);
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
