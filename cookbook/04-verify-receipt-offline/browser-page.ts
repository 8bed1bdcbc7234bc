/**
 * A page that verifies a receipt in the browser with the ESM build of
 * `tallydb/verify` (dist/verify.js) and no bundler: an import map points the
 * three bare imports of the verifier's module graph (@noble/hashes,
 * @noble/ed25519, cborg) at their files under node_modules/, and a tiny
 * static server serves dist/ and node_modules/ from the repository root.
 * An application with a bundler writes `import { verifyReceipt } from 'tallydb/verify'` instead.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';

/** Where the page's bare imports live, as the browser resolves them. */
export const IMPORT_MAP = {
  imports: {
    '@noble/hashes/': '/node_modules/@noble/hashes/',
    '@noble/ed25519': '/node_modules/@noble/ed25519/index.js',
    cborg: '/node_modules/cborg/cborg.js',
  },
};

/** The page: fetches the receipt and the trusted key, verifies, shows the verdict and leaves it in `window.verdict`. */
export const PAGE_HTML = `<!doctype html>
<meta charset="utf-8">
<title>Verify a Tally receipt</title>
<script type="importmap">${JSON.stringify(IMPORT_MAP)}</script>
<pre id="out">verifying…</pre>
<script type="module">
  import { verifyReceipt } from '/dist/verify.js';
  const receipt = await (await fetch('/receipt.json')).json();
  const key = (await (await fetch('/key.txt')).text()).trim(); // obtained out of band, never from the receipt
  const v = verifyReceipt(receipt, [key]);
  const tampered = structuredClone(receipt);
  tampered.header.actor = 'someone-else';
  const t = verifyReceipt(tampered, [key]);
  window.verdict = v.ok ? { ok: true, tenant: v.tenant, seq: v.seq, op: v.op, key: v.key, data: v.data, tampered: t.ok ? 'ok' : t.code } : { ok: false, code: v.code };
  document.getElementById('out').textContent = JSON.stringify(window.verdict, null, 2);
</script>
`;

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.json': 'application/json', '.map': 'application/json' };

/**
 * Serves the page on a free loopback port: `/` the page, `/receipt.json` and
 * `/key.txt` the inputs, and files under `root`/dist and `root`/node_modules.
 */
export async function servePage(root: string, receipt: unknown, verifierKey: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      if (path === '/') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE_HTML);
      if (path === '/receipt.json') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(receipt));
      if (path === '/key.txt') return void res.writeHead(200, { 'content-type': 'text/plain' }).end(verifierKey);
      const file = normalize(join(root, path));
      const allowed = [join(root, 'dist') + sep, join(root, 'node_modules') + sep].some((p) => file.startsWith(p));
      if (!allowed) return void res.writeHead(404).end();
      try {
        const body = await readFile(file);
        res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
      } catch {
        res.writeHead(404).end();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return { url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
