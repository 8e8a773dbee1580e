import t from 'tap';
import { RECEIPT_RETRY_PAUSES_MS, sendReceipt } from '../../gateway/call/send-receipt.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';

const RECEIPT = new TextEncoder().encode('{"v":2,"request_id":"r","delivered":true}');
const INBOX = '_INBOX.worker.receipt';

function setup() {
  const clock = new FakeClock();
  const bus = new FakeBus('gateway', clock);
  const seen: string[] = [];
  /** The worker's inbox: takes receipts, acknowledging them only when `ack` says so. */
  const worker = (ack: () => boolean) =>
    bus.subscribe(INBOX, {
      callback: (_err, msg) => {
        seen.push(new TextDecoder().decode(msg.data));
        if (ack() && msg.reply) bus.publish(msg.reply);
      },
    });
  const run = (sent: Promise<void>) => {
    let done = false;
    sent.then(
      () => (done = true),
      () => undefined,
    );
    return () => done;
  };
  return { clock, bus, seen, worker, run };
}

const TOTAL_MS = RECEIPT_RETRY_PAUSES_MS.reduce((sum, ms) => sum + ms + 1000, 1000);

t.test('an acknowledged receipt is sent once', async (t) => {
  const { bus, clock, seen, worker, run } = setup();
  worker(() => true);
  const done = run(sendReceipt(bus, INBOX, RECEIPT, clock));
  await clock.advance(0);
  t.equal(seen.length, 1);
  t.ok(done(), 'finished on the acknowledgement');
});

t.test('an unacknowledged receipt is sent again, a bounded number of times', async (t) => {
  const { bus, clock, seen, worker, run } = setup();
  worker(() => false);
  const done = run(sendReceipt(bus, INBOX, RECEIPT, clock));
  await clock.advance(TOTAL_MS + 1000);
  t.equal(seen.length, RECEIPT_RETRY_PAUSES_MS.length + 1, 'the first try and one per pause');
  t.ok(done());
  t.equal(clock.pending, 0, 'no timer left behind');
});

t.test('a worker inbox that appears late (resubscribed after a reconnect) still gets the receipt', async (t) => {
  const { bus, clock, seen, worker, run } = setup();
  const done = run(sendReceipt(bus, INBOX, RECEIPT, clock));
  await clock.advance(0);
  t.equal(seen.length, 0, 'no responders yet');
  worker(() => true);
  await clock.advance(RECEIPT_RETRY_PAUSES_MS[0]!);
  t.equal(seen.length, 1);
  t.ok(done());
});

t.test('during an outage it waits for the bus, and sends once it is back', async (t) => {
  const { bus, clock, seen, worker, run } = setup();
  worker(() => true);
  bus.setConnected(false);
  const done = run(sendReceipt(bus, INBOX, RECEIPT, clock));
  await clock.advance(500);
  t.equal(seen.length, 0);
  bus.setConnected(true);
  await settle();
  await clock.advance(0);
  t.equal(seen.length, 1);
  t.ok(done());
});

t.test('a closed bus ends the tries', async (t) => {
  const { bus, clock, seen, run } = setup();
  const done = run(sendReceipt(bus, INBOX, RECEIPT, clock));
  await clock.advance(0);
  bus.closeNow();
  await clock.advance(TOTAL_MS);
  t.equal(seen.length, 0);
  t.ok(done());
});
