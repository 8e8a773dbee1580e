import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * The root logger of a process. JSON lines by default (for collectors and tests); pretty
 * output only when a person is watching a terminal and has not asked for JSON.
 */
export function createLogger(name: string, options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const base: LoggerOptions = {
    name,
    level: options.level ?? process.env['LOG_LEVEL'] ?? 'info',
    // Never log credentials, even when a request object slips into a log call.
    redact: { paths: ['req.headers.authorization', 'headers.authorization', '*.apiKey'], censor: '[redacted]' },
  };
  if (options.destination) return pino(base, options.destination);
  if (process.stdout.isTTY && process.env['LOG_FORMAT'] !== 'json') {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } } });
  }
  return pino(base);
}
