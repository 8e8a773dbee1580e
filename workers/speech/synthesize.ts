import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { AgentbusError } from '../../bus-schemas/index.js';
import type { SpeechPlan } from './plan.js';
import { speakableText } from './speakable-text.js';

/** The exit code a child will close with (null when killed), watched from its spawn so no close is missed. */
function exitOf(child: ChildProcess): Promise<number | null> {
  return once(child, 'close').then(
    ([code]) => code as number | null,
    () => null,
  );
}

function stderrOf(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (text.length < 2000) text += chunk.toString('utf8');
  });
  return () => text.trim();
}

/**
 * Runs the plan's espeak-ng (piped into ffmpeg when encoding) and yields the audio as the
 * engine writes it. Aborting `signal` kills both processes at once: a cancelled request stops
 * the synthesis, and its reason is thrown.
 */
export async function* synthesize(plan: SpeechPlan, text: string, signal: AbortSignal): AsyncGenerator<Buffer> {
  signal.throwIfAborted();
  const espeak = spawn(plan.espeak.command, plan.espeak.args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const children: ChildProcess[] = [espeak];
  const exits = [exitOf(espeak)];
  const errors = [stderrOf(espeak)];
  let out: Readable = espeak.stdout;
  if (plan.ffmpeg) {
    const ffmpeg = spawn(plan.ffmpeg.command, plan.ffmpeg.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(ffmpeg);
    exits.push(exitOf(ffmpeg));
    errors.push(stderrOf(ffmpeg));
    ffmpeg.stdin.on('error', () => undefined); // EPIPE when ffmpeg fails first: its exit code says why
    espeak.stdout.pipe(ffmpeg.stdin);
    out = ffmpeg.stdout;
  }
  const spawnFailure = Promise.race(children.map((child) => once(child, 'error').then(([err]) => err as Error)));
  spawnFailure.catch(() => undefined);
  // Its unread output destroyed too: a child closes only once its pipes do, and espeak-ng's stdout
  // stays full when ffmpeg, its reader, is gone.
  const kill = () =>
    children.forEach((child) => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      child.stdout?.destroy();
    });
  signal.addEventListener('abort', kill, { once: true });
  espeak.stdin.on('error', () => undefined);
  espeak.stdin.end(speakableText(text));
  try {
    for await (const chunk of out) {
      if (signal.aborted) break;
      yield chunk as Buffer;
    }
    const codes = await Promise.race([
      Promise.all(exits),
      spawnFailure.then((err) => {
        throw new AgentbusError('speech_engine_unavailable', `could not start the speech engine: ${err.message}`);
      }),
    ]);
    signal.throwIfAborted();
    codes.forEach((code, index) => {
      if (code !== 0)
        throw new AgentbusError(
          'backend_error',
          `${index === 0 ? 'espeak-ng' : 'ffmpeg'} failed (exit ${code}): ${errors[index]!() || 'no message'}`,
        );
    });
  } catch (err) {
    if (!signal.aborted) throw err;
    // A killed pipe ends "prematurely": the abort's reason is the real one, once both are gone.
    kill();
    await Promise.all(exits);
    throw signal.reason;
  } finally {
    signal.removeEventListener('abort', kill);
    kill();
  }
}
