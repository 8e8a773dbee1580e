import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// `node --import tsx bench/profile-summary.ts <dir>`: the hottest functions (self time) of each
// .cpuprofile that `npm run bench -- --profile=<dir>` wrote, to see what the hot path pays for.

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node --import tsx bench/profile-summary.ts <profile dir> [top]\n');
  process.exit(1);
}
const top = Number(process.argv[3] ?? 25);
const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.cpuprofile'));
for (const file of files) {
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
  // tsx's loader thread: nothing of ours runs there.
  if (!profile.nodes.some((n) => n.callFrame.url.includes('/gateway/') || n.callFrame.url.includes('/workers/')))
    continue;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    if (!node) return;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url.replace(/^file:\/\/.*?\/(node_modules\/|work\/main\/)/, '$1');
    const key = `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  process.stdout.write(`\n${file}: ${(total / 1000).toFixed(0)} ms sampled\n`);
  for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${key}\n`);
  }
}
