import type { Logger } from '../../common/logger.js';

/** An engine binary a worker may install from Debian's packages the first time a request needs it. */
export interface EngineTool {
  /** What the user calls it, e.g. "espeak-ng". */
  name: string;
  debianPackage: string;
  /** The binary now, or undefined (looked for again on every request: someone may have installed it). */
  find(): string | undefined;
  /**
   * False when the configured path is one the package would not fill (ESPEAK_NG_PATH=/opt/…):
   * installing would not help, so the worker does not try.
   */
  installable: boolean;
}

/** How packages get installed: the real apt-get (apt-install.ts), or a test's fake. */
export interface PackageInstaller {
  /** Why this process cannot install packages (not root, no apt-get), or undefined when it can. */
  refusal(): string | undefined;
  /** Installs one Debian package; rejects with what went wrong. */
  install(debianPackage: string, log: Logger): Promise<void>;
}

/** The binary, or why there is none: `command` is what the user should run. */
export type EngineLookup = { path: string } | { path: undefined; why: string; command: string };

type State = { state: 'idle' } | { state: 'installing'; done: Promise<void> } | { state: 'failed'; why: string };

/**
 * Finds an engine, installing its package on first need: once per worker process — concurrent
 * requests wait for the same install, and a failed install is not retried (each request names the
 * failure and the command instead) unless the binary appears by other means.
 */
export function createEngineInstall(
  tool: EngineTool,
  installer: PackageInstaller,
  log: Logger,
): { ensure(signal: AbortSignal): Promise<EngineLookup> } {
  let current: State = { state: 'idle' };
  const command = `apt-get install ${tool.debianPackage}`;

  const install = (): Promise<void> => {
    log.warn(
      { engine: tool.name },
      `${tool.name} is not installed: installing the Debian package ${tool.debianPackage}`,
    );
    const done = installer.install(tool.debianPackage, log).then(
      () => {
        const path = tool.find();
        current = path
          ? { state: 'idle' }
          : {
              state: 'failed',
              why: `the ${tool.debianPackage} package installed, but no ${tool.name} binary was found`,
            };
        if (path) log.info({ engine: tool.name, path }, `installed ${tool.name}`);
      },
      (err: unknown) => {
        current = { state: 'failed', why: `installing it failed: ${(err as Error)?.message ?? String(err)}` };
        log.error({ engine: tool.name, err }, `could not install ${tool.name}`);
      },
    );
    current = { state: 'installing', done };
    return done;
  };

  async function ensure(signal: AbortSignal): Promise<EngineLookup> {
    const found = tool.find();
    if (found) return { path: found };
    if (!tool.installable) return { path: undefined, why: 'not found at its configured path', command };
    if (current.state === 'idle') {
      const refusal = installer.refusal();
      if (refusal) return { path: undefined, why: `not installed, and ${refusal}`, command };
    }
    if (current.state !== 'failed') {
      const done = current.state === 'installing' ? current.done : install();
      // A cancelled request stops waiting; the install goes on for the next one.
      await untilDoneOrAborted(done, signal);
    }
    const path = tool.find();
    if (path) return { path };
    return { path: undefined, why: current.state === 'failed' ? current.why : 'not installed', command };
  }

  return { ensure };
}

/** Waits for `done`, unless `signal` aborts first (then throws its reason); the listener goes either way. */
async function untilDoneOrAborted(done: Promise<void>, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
  });
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.race([done, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
