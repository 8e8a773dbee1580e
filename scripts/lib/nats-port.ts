import { readFile } from 'node:fs/promises';
import { freePort, isPortFree } from './ports.js';

/** The port nats.conf asks for (4222 when it names none). */
export async function configuredNatsPort(confFile: string): Promise<number> {
  const text = await readFile(confFile, 'utf8');
  const match = /^\s*port\s*[:=]\s*(\d+)/m.exec(text);
  return match ? Number(match[1]) : 4222;
}

export interface NatsPortChoice {
  port: number;
  /** Why it is not the configured one, for the user; undefined when it is. */
  note?: string;
}

/**
 * The port of the bundled nats-server: the configured one when free; else the one chosen on an
 * earlier start when free again (workers added by hand were told that one); else a free one.
 */
export async function chooseNatsPort(options: {
  host: string;
  configured: number;
  remembered: number | undefined;
  confFile: string;
  recordFile: string;
}): Promise<NatsPortChoice> {
  const { host, configured, remembered } = options;
  if (await isPortFree(host, configured)) return { port: configured };
  const reuse = remembered !== undefined && remembered !== configured && (await isPortFree(host, remembered));
  const port = reuse ? remembered : await freePort(host);
  return {
    port,
    note:
      `port ${configured} from ${options.confFile} is already taken (another NATS server?). ` +
      `Not attaching to it: the bundled nats-server starts on port ${port} instead` +
      (reuse
        ? `, as on the last start (${options.recordFile}). `
        : `, and keeps it on later starts (${options.recordFile}). `) +
      `To use the one on ${configured}, stop this and run: NATS_URL=nats://${host}:${configured} npm start`,
  };
}
