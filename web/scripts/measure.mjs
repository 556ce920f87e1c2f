// After `vite build`: measures the JavaScript the first page load needs
// (index.html's module script and everything it imports statically),
// gzipped, prints it, and fails the build above the 400 KB budget. Also
// writes a `.gz` beside every text asset, which the server sends to
// browsers that accept gzip. Fails too if a test hook is in the bundle.

import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const BUDGET = 400 * 1024;
const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const gz = (path) => gzipSync(readFileSync(path), { level: 9 }).length;

// The entry scripts and their static imports (modulepreload links), which
// the browser fetches before the page runs; lazy chunks are not counted.
const initial = new Set();
for (const m of html.matchAll(/<(?:script[^>]*src|link[^>]*rel="modulepreload"[^>]*href)="\/?([^"]+\.js)"/g)) {
  initial.add(m[1]);
}
const queue = [...initial];
while (queue.length) {
  const file = queue.pop();
  const code = readFileSync(join(dist, file), 'utf8');
  // Static imports only: `import … from "./x.js"` / `import "./x.js"`, not `import("./x.js")`.
  for (const m of code.matchAll(/(?:^|[;}\n])\s*import\s*(?:[^"'()]*?from\s*)?["']\.\/([^"']+\.js)["']/g)) {
    const dep = join(dirname(file), m[1]);
    if (!initial.has(dep)) {
      initial.add(dep);
      queue.push(dep);
    }
  }
}
let total = 0;
for (const file of initial) total += gz(join(dist, file));

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}
let lazy = 0;
for (const path of walk(dist)) {
  if (!/\.(js|css|html|svg|json|txt)$/.test(path)) continue;
  const packed = gzipSync(readFileSync(path), { level: 9 });
  writeFileSync(path + '.gz', packed);
  if (path.endsWith('.js') && !initial.has(relative(dist, path))) lazy += packed.length;
}
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
console.log(`initial JavaScript: ${kb(total)} gzipped in ${initial.size} file(s) (budget ${kb(BUDGET)}); lazily loaded: ${kb(lazy)} gzipped`);
if (total > BUDGET) {
  console.error('error: the initial JavaScript is over budget');
  process.exit(1);
}

// Hooks for the latency benchmark and for debugging (`__bytesboxApp`,
// `__bytesbox`) exist only in builds of another mode (src/main.tsx).
const hooked = walk(dist).filter((path) => path.endsWith('.js') && readFileSync(path, 'utf8').includes('__bytesbox'));
if (hooked.length) {
  console.error(`error: test hooks in the production bundle: ${hooked.map((p) => relative(dist, p)).join(', ')}`);
  process.exit(1);
}
