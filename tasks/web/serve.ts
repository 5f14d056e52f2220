// npm run web: serves the built page (dist/page/) on http://localhost:8080/ (localhost counts as
// a secure context, which WebGPU requires). GET/HEAD of files under the folder, nothing else.
import { createServer, type Server } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, resolve, sep, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pagePort } from '../common/environment.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json',
  '.bin': 'application/octet-stream', '.png': 'image/png', '.css': 'text/css; charset=utf-8', '.json': 'application/json',
};

export interface Served { url: string; close(): Promise<void> }

export function serveStatic(dir: string, port = 8080, host = '127.0.0.1'): Promise<Served> {
  const base = resolve(dir);
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = resolve(join(base, path.endsWith('/') ? `${path}index.html` : path));
    let size = -1;
    try { if (file.startsWith(base + sep)) size = statSync(file).isFile() ? statSync(file).size : -1; } catch { /* missing */ }
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405).end(); return; }
    if (size < 0) { res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': size, 'cache-control': 'no-cache' });
    if (req.method === 'HEAD') res.end(); else createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      const a = server.address();
      const p = typeof a === 'object' && a ? a.port : port;
      ok({ url: `http://${host === '127.0.0.1' ? 'localhost' : host}:${p}/`, close: () => new Promise((c) => server.close(() => c())) });
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  const dir = process.argv[2] ?? join(root, 'dist/page');
  const port = pagePort();
  try { statSync(join(dir, 'index.html')); } catch { console.error(`web: ${dir}/index.html is missing; run \`npm run build:web\` first`); process.exit(1); }
  const s = await serveStatic(dir, port);
  console.log(`web: serving ${dir} at ${s.url} (Ctrl-C stops)`);
}
