import { startFakeUpstream } from './fake-upstream.js';

// The fake upstream in a process of its own, so it never competes with the load generator's
// event loop; the harness forks it and learns its URL over IPC.
const upstream = await startFakeUpstream();
process.send?.({ type: 'ready', url: upstream.url });
const stop = () => {
  upstream.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop).on('SIGINT', stop);
process.once('disconnect', stop);
