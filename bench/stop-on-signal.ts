/**
 * Ctrl-C or kill of a bench tool: `stop` (every process the tool started) runs before the exit.
 * Those processes run in process groups of their own — nats-server must outlive the processes
 * that drain into it — so the terminal's signal reaches only the tool. This stops them in order
 * and removes the run's temp folder; a tool that dies without it (SIGKILL, a second signal) still
 * takes them along: IPC channels close, nats-server and Portkey get their parent-death signal;
 * its temp folder stays until the next bench run removes it (temp-dir.ts).
 * Returns the function that removes the handlers.
 */
export function stopOnSignal(stop: () => Promise<unknown>, say: (line: string) => void = writeLine): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    say(`${signal}: stopping everything`);
    const exit = () => process.exit(130);
    // Exiting either way: a stack that fails to stop has nothing left to say.
    stop().then(exit, exit);
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  return () => process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
}

const writeLine = (line: string) => process.stderr.write(`[bench] ${line}\n`);
