import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What `npm start` remembers in `DATA_DIR/nats-server.json` about its bundled nats-server:
 * the port it chose (reused on the next start, so the printed add-workers line stays right),
 * and while it runs, its pid and its supervisor's (a later start finds one left behind).
 */
export interface NatsRecord {
  port: number;
  storeDir: string;
  /** Set while the server runs; removed when the stack stops it. */
  pid?: number;
  supervisorPid?: number;
}

export const natsRecordFile = (dataDir: string): string => join(dataDir, 'nats-server.json');

/** Where the bundled nats-server listens: loopback only. */
export const BUNDLED_NATS_HOST = '127.0.0.1';

/** The record, or undefined when there is none or it is not one (a hand edit, a torn write). */
export function readNatsRecord(dataDir: string): NatsRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(natsRecordFile(dataDir), 'utf8')) as Partial<NatsRecord>;
    const isPid = (value: unknown) => value === undefined || (Number.isInteger(value) && (value as number) > 0);
    if (!Number.isInteger(record.port) || typeof record.storeDir !== 'string') return undefined;
    if (!isPid(record.pid) || !isPid(record.supervisorPid)) return undefined;
    return record as NatsRecord;
  } catch {
    return undefined;
  }
}

/** Writes the record whole (a temp file renamed over it): a crash never leaves half a file. */
export function writeNatsRecord(dataDir: string, record: NatsRecord): void {
  const file = natsRecordFile(dataDir);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

/** The URL of the nats-server `npm start` runs (or last ran) for `dataDir`, from its record. */
export function recordedNatsUrl(dataDir: string): string | undefined {
  const port = readNatsRecord(dataDir)?.port;
  return port === undefined ? undefined : `nats://${BUNDLED_NATS_HOST}:${port}`;
}
