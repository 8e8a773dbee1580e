import type { KV, KvOptions } from '@nats-io/kv';
import { errors } from '@nats-io/transport-node';
import type { Bus } from './bus.js';

/**
 * The command that creates the streams and buckets on a locked-down bus: runtime users may
 * only use them (nats.conf), the `admin` user creates and changes them.
 */
export const BUS_SETUP_COMMAND = 'npm run bus:setup';

/** How to create what is missing, for log messages. */
export const BUS_SETUP_HINT =
  `run "${BUS_SETUP_COMMAND}" with the admin user's credentials ` +
  '(NATS_USER=admin NATS_PASSWORD_FILE=DATA_DIR/nats-credentials/admin.password; ' +
  '"npm start" does it for its own nats-server), README "Securing the bus"';

/**
 * True for the server's "Permissions Violation": nats.js rejects a request on a subject the user
 * may not publish to at once with a RequestError caused by a PermissionViolationError.
 */
export function isPermissionViolation(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof errors.PermissionViolationError || /permissions violation/i.test(e.message)) return true;
  }
  return false;
}

/**
 * The JetStream API calls that create or change streams. A runtime user that is not allowed them
 * (nats.conf) makes them only to find out; the caller logs what to do, so the connection's
 * generic "NATS refused a publish" error line would only add noise.
 */
export function isSetupApiSubject(subject: string): boolean {
  return /^\$JS\.API\.STREAM\.(CREATE|UPDATE)\./.test(subject);
}

/** A stream or bucket is missing and this NATS user may not create it: the admin setup has not run. */
export class BusSetupNeededError extends Error {
  override name = 'BusSetupNeededError';
}

/**
 * Opens a JetStream KV bucket, creating it only when it is missing. `Kvm.create` asks
 * `$JS.API.STREAM.INFO.KV_<bucket>` first and calls `STREAM.CREATE` only for a missing stream,
 * so a user without the create grant opens an existing bucket fine. A missing bucket such a user
 * may not create is a {@link BusSetupNeededError} naming `npm run bus:setup`.
 */
export async function openKvBucket(
  bus: Bus,
  bucket: string,
  options: Partial<KvOptions>,
  timeoutMs: number,
): Promise<KV> {
  try {
    return await bus.kvm({ timeoutMs }).create(bucket, options);
  } catch (err) {
    if (!isPermissionViolation(err)) throw err;
    throw new BusSetupNeededError(
      `the KV bucket "${bucket}" does not exist and this process's NATS user may not create it: ${BUS_SETUP_HINT}`,
      { cause: err },
    );
  }
}
