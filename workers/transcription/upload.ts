import { AgentbusError, decodeTranscriptionUpload } from '../../bus-schemas/index.js';
import type { Bus } from '../../common/bus.js';

/**
 * Receives one upload on a fresh inbox of this worker: `audio` frames in `seq` order, then `end`
 * with their byte total. A gap, a wrong total or a frame of another request is
 * `stream_protocol_error` (a cut upload is never transcribed as if whole); more bytes than the
 * request announced, the same. Aborting `signal` (cancel, deadline) stops waiting with its reason.
 */
export function receiveUpload(
  bus: Pick<Bus, 'newInbox' | 'subscribe'>,
  request: { request_id: string; bytes: number },
  signal: AbortSignal,
): { subject: string; audio: Promise<Buffer> } {
  const subject = bus.newInbox('transcribe');
  const chunks: Buffer[] = [];
  let received = 0;
  let expected = 0;
  let settle: { resolve(audio: Buffer): void; reject(err: unknown): void };
  const audio = new Promise<Buffer>((resolve, reject) => (settle = { resolve, reject }));
  audio.catch(() => undefined);
  const sub = bus.subscribe(subject, {
    callback: (err, msg) => {
      try {
        if (err) throw err;
        const frame = decodeTranscriptionUpload(msg.data);
        if (frame.request_id !== request.request_id || frame.seq !== expected++)
          throw new AgentbusError(
            'stream_protocol_error',
            `upload frame ${frame.seq} arrived, ${expected - 1} expected`,
          );
        if (frame.type === 'audio') {
          const chunk = Buffer.from(frame.data, 'base64');
          received += chunk.length;
          if (received > request.bytes)
            throw new AgentbusError('stream_protocol_error', `the upload passed the ${request.bytes} bytes announced`);
          chunks.push(chunk);
          return;
        }
        if (frame.bytes !== received || received !== request.bytes)
          throw new AgentbusError(
            'stream_protocol_error',
            `the upload ended at ${received} bytes, ${frame.bytes} sent and ${request.bytes} announced`,
          );
        done();
        settle.resolve(Buffer.concat(chunks));
      } catch (error) {
        done();
        settle.reject(error);
      }
    },
  });
  const onAbort = () => {
    done();
    settle.reject(signal.reason);
  };
  const done = () => {
    sub.unsubscribe();
    signal.removeEventListener('abort', onAbort);
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return { subject, audio };
}
