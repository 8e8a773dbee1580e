import { connect } from '@nats-io/transport-node';
import Fastify from 'fastify';

// The floor's gateway (BENCHMARKS.md, "Floor of the architecture"): the least an HTTP-to-NATS
// gateway does — one route that hands the body as it came to a worker over NATS request/reply
// and returns the reply as the JSON body. No validation, auth, logs, audit or streaming. A reply
// naming a turn (header Floor-Turn, the floor+delivery worker's) gets its receipt, a request the
// worker acknowledges, once the response has gone out whole, as agentbus's delivery contract.

const subject = process.env['FLOOR_SUBJECT'] ?? 'floor.chat';
const nc = await connect({ servers: process.env['NATS_URL'] });
const app = Fastify({ logger: false });
// The bytes go on as they came: the worker parses them, once.
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
app.post('/v1/chat/completions', async (req, reply) => {
  const answer = await nc.request(subject, req.body as Buffer, { timeout: 30_000 });
  const turn = answer.headers?.get('Floor-Turn');
  if (turn)
    reply.raw.once('finish', () => {
      // A lost receipt leaves the turn pending: measureFloor counts those after the run.
      nc.request(`${subject}.receipt`, turn, { timeout: 30_000 }).catch(() => undefined);
    });
  return reply.type('application/json').send(Buffer.from(answer.data));
});
const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.send?.({ type: 'ready', url });
const stop = () => process.exit(0);
process.once('SIGTERM', stop).once('SIGINT', stop).once('disconnect', stop);
