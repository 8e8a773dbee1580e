// Preloaded into the Portkey gateway (node --import) so its STREAMED requests work. Without it
// every `stream: true` request answers 500 "TypeError: immutable":
//
// - @hono/node-server (which Portkey 1.15.2 serves with) replaces globalThis.Response with a
//   lightweight class that, given a native Response as `init`, keeps `init.headers` itself
//   instead of copying it;
// - Portkey's stream path builds `new Response(transformedStream, upstreamFetchResponse)`, so
//   the new response shares the upstream fetch response's Headers, which the Fetch standard
//   makes immutable (guard "immutable");
// - Portkey then appends its x-portkey-* headers to it (`updateHeaders`), which throws.
//
// The fix gives every response that fetch returns a mutable copy of its own headers (same
// entries, same order), as an own `headers` property that shadows the prototype getter. The
// body, status, url and the Response object itself are untouched, and nothing else about a
// request changes. Cost: one `new Headers(...)` copy of a handful of upstream headers per
// upstream call (about a microsecond; BENCHMARKS.md "Portkey on Node 20").
const nativeFetch = globalThis.fetch;

globalThis.fetch = async function fetch(input, init) {
  const response = await nativeFetch(input, init);
  Object.defineProperty(response, 'headers', { value: new Headers(response.headers), configurable: true });
  return response;
};
