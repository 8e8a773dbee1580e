import { renameSync, writeFileSync } from 'node:fs';
import { natsRecordFile, type NatsRecord } from '../../common/recorded-nats.js';

// The reading side is in common/: the gateway and the worker find npm start's bus by it too.
export {
  BUNDLED_NATS_HOST,
  natsRecordFile,
  readNatsRecord,
  recordedNatsUrl,
  type NatsRecord,
} from '../../common/recorded-nats.js';

/** Writes the record whole (a temp file renamed over it): a crash never leaves half a file. */
export function writeNatsRecord(dataDir: string, record: NatsRecord): void {
  const file = natsRecordFile(dataDir);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}
