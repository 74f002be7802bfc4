// 35. Serving the web app (http/static). With WEB_ROOT (or --web-root) set,
// GET and HEAD on every path no API route takes answer files from it: the
// right Content-Type, a strong ETag (If-None-Match → 304 without a body),
// immutable caching for Vite's hashed assets and no-cache for the rest,
// index.html for app routes (no dot in the last segment) but a plain 404
// for a missing file, and a 404 for anything outside the root or hidden
// (.., dotfiles, symlinks out). API paths answer exactly as before. Without
// WEB_ROOT, / is still the JSON 404; with a WEB_ROOT that is not built yet,
// HTML routes answer 503 until it is, without a restart.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { httpRequest, parseResponseHead, rawExchange, startServer, teardown } from './harness.mjs';

const SECRET_TEXT = 'outside-the-root-secret';
const INDEX = '<!doctype html><html><head><link rel="stylesheet" href="/assets/index-B1x2Yz9Q.css"></head>'
  + '<body><div id="root"></div><script type="module" src="/assets/index-AbC123xy.js"></script></body></html>\n';
const MEDIUM = crypto.randomBytes(300 * 1024); // several writes' worth

// name → [content, expected Content-Type]
const FILES = {
  'index.html': [INDEX, 'text/html; charset=utf-8'],
  'assets/index-AbC123xy.js': ['console.log("app");\n', 'text/javascript; charset=utf-8'],
  'assets/index-B1x2Yz9Q.css': ['body{margin:0}\n', 'text/css; charset=utf-8'],
  'assets/index-AbC123xy.js.map': ['{"version":3}\n', 'application/json; charset=utf-8'],
  'assets/worker-Qw3rTy12.mjs': ['export {};\n', 'text/javascript; charset=utf-8'],
  'assets/logo.png': [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), 'image/png'],
  'assets/photo-Zx9Yw8Vu.jpg': [Buffer.from([0xff, 0xd8, 0xff, 0xe0]), 'image/jpeg'],
  'assets/anim.gif': ['GIF89a', 'image/gif'],
  'assets/pic.webp': ['RIFF....WEBP', 'image/webp'],
  'assets/inter-Ab12Cd34.woff2': ['wOF2', 'font/woff2'],
  'assets/inter.woff': ['wOFF', 'font/woff'],
  'assets/inter.ttf': ['\0\x01\0\0', 'font/ttf'],
  'assets/mod-Ab12Cd34.wasm': [Buffer.from([0, 0x61, 0x73, 0x6d]), 'application/wasm'],
  'favicon.svg': ['<svg xmlns="http://www.w3.org/2000/svg"/>\n', 'image/svg+xml; charset=utf-8'],
  'favicon.ico': [Buffer.from([0, 0, 1, 0]), 'image/x-icon'],
  'robots.txt': ['User-agent: *\n', 'text/plain; charset=utf-8'],
  'site.webmanifest': ['{"name":"TechCare"}\n', 'application/manifest+json; charset=utf-8'],
  'config.json': ['{"a":1}\n', 'application/json; charset=utf-8'],
  'data.bin': [Buffer.from([1, 2, 3]), 'application/octet-stream'],
  'medium.js': [MEDIUM, 'text/javascript; charset=utf-8'],
};

/** A web root like web/dist, next to an "outside" directory that symlinks
 * in the root point into. Returns {dir, root}. */
function makeWebRoot() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-static-'));
  const root = path.join(dir, 'dist');
  fs.mkdirSync(path.join(root, 'assets'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'outside'));
  fs.writeFileSync(path.join(dir, 'outside', 'secret.txt'), SECRET_TEXT);
  for (const [name, [content]] of Object.entries(FILES)) fs.writeFileSync(path.join(root, name), content);
  fs.writeFileSync(path.join(root, '.env'), `SECRET=${SECRET_TEXT}\n`);
  fs.mkdirSync(path.join(root, '.git'));
  fs.writeFileSync(path.join(root, '.git', 'config'), SECRET_TEXT);
  fs.symlinkSync('../outside/secret.txt', path.join(root, 'leak.txt'));
  fs.symlinkSync('../../outside', path.join(root, 'assets', 'out'));
  fs.symlinkSync('/etc/passwd', path.join(root, 'passwd.txt'));
  // larger than the default 4 MiB send queue: refused with a 500, not a closed connection
  fs.writeFileSync(path.join(root, 'huge.bin'), Buffer.alloc(5 * 1024 * 1024, 7));
  return { dir, root };
}

/** One request written verbatim on a fresh connection (node's client would
 * not send every target as is); reads until the server closes. Returns the
 * raw bytes and the first response's {status, headers, body}. */
async function raw(port, target, { method = 'GET', headers = {}, extra = '' } = {}) {
  const lines = Object.entries({ host: `127.0.0.1:${port}`, ...headers, ...(extra ? {} : { connection: 'close' }) })
    .map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const bytes = await rawExchange(port, `${method} ${target} HTTP/1.1\r\n${lines}\r\n${extra}`, { what: `answer to ${method} ${target}` });
  return { bytes, ...parseResponse(bytes) };
}

function parseResponse(bytes) {
  const head = parseResponseHead(bytes);
  assert.ok(head && head.headLen > 4, `no response head in ${JSON.stringify(bytes.toString().slice(0, 200))}`);
  return { ...head, body: bytes.subarray(head.headLen) };
}

const asBuffer = (c) => (Buffer.isBuffer(c) ? c : Buffer.from(c));

describe('serving the web app (WEB_ROOT)', () => {
  let app, bare, web;
  before(async () => {
    web = makeWebRoot();
    // bare: WEB_ROOT empty (= unset) even if the shell running the tests exports one
    [app, bare] = await Promise.all([startServer({ env: { WEB_ROOT: web.root } }), startServer({ env: { WEB_ROOT: '' } })]);
  });
  after(async () => {
    await teardown(app, bare);
    fs.rmSync(web.dir, { recursive: true, force: true });
  });

  const get = (p, headers) => httpRequest(app.port, p, { headers });

  test('GET / → index.html, no-cache, a strong ETag, nosniff', async () => {
    const r = await get('/');
    assert.equal(r.status, 200);
    assert.equal(r.text, INDEX);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(Number(r.headers['content-length']), Buffer.byteLength(INDEX));
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.match(r.headers.etag, /^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/); // strong: no W/
    assert.ok(!Number.isNaN(Date.parse(r.headers['last-modified'])));
    assert.equal(r.headers['content-encoding'], undefined);
    const again = await get('/index.html');
    assert.equal(again.headers.etag, r.headers.etag);
  });

  test('every file: its bytes, its Content-Type', async () => {
    for (const [name, [content, type]] of Object.entries(FILES)) {
      const r = await get(`/${name}`);
      assert.equal(r.status, 200, name);
      assert.equal(r.headers['content-type'], type, name);
      assert.equal(r.headers['x-content-type-options'], 'nosniff', name);
      assert.equal(Number(r.headers['content-length']), asBuffer(content).length, name);
      assert.ok(r.body.equals(asBuffer(content)), `${name}: body differs`);
    }
  });

  test('caching: hashed assets immutable for a year, everything else no-cache', async () => {
    const immutable = 'public, max-age=31536000, immutable';
    for (const p of ['/assets/index-AbC123xy.js', '/assets/index-B1x2Yz9Q.css', '/assets/index-AbC123xy.js.map',
      '/assets/inter-Ab12Cd34.woff2', '/assets/photo-Zx9Yw8Vu.jpg']) {
      assert.equal((await get(p)).headers['cache-control'], immutable, p);
    }
    for (const p of ['/', '/index.html', '/login', '/favicon.svg', '/robots.txt', '/site.webmanifest',
      '/assets/logo.png', '/assets/inter.woff']) {
      assert.equal((await get(p)).headers['cache-control'], 'no-cache', p);
    }
  });

  test('If-None-Match → 304 with no body (exact, W/, lists, *); a stale tag → 200', async () => {
    const first = await get('/assets/index-AbC123xy.js');
    const tag = first.headers.etag;
    for (const inm of [tag, `W/${tag}`, `"nope", ${tag}`, `W/"x",W/${tag} , "y"`, '*']) {
      const r = await raw(app.port, '/assets/index-AbC123xy.js', { headers: { 'if-none-match': inm } });
      assert.equal(r.status, 304, inm);
      assert.equal(r.statusLine, 'HTTP/1.1 304 Not Modified');
      assert.equal(r.body.length, 0, `${inm}: a 304 has no body`);
      assert.equal(r.headers['content-length'], undefined);
      assert.equal(r.headers.etag, tag);
      assert.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable');
    }
    const stale = await get('/assets/index-AbC123xy.js', { 'if-none-match': '"0-0-0"' });
    assert.equal(stale.status, 200);
    assert.equal(stale.text, FILES['assets/index-AbC123xy.js'][0]);
    // the SPA fallback revalidates against index.html's tag
    const index = await get('/');
    const r = await raw(app.port, '/customer/bookings/123', { headers: { 'if-none-match': index.headers.etag } });
    assert.equal(r.status, 304);
    assert.equal(r.headers['cache-control'], 'no-cache');
  });

  test('a file rewritten by a new build gets a new ETag', async () => {
    const p = path.join(web.root, 'robots.txt');
    const before = await get('/robots.txt');
    fs.writeFileSync(`${p}.new`, 'User-agent: *\nDisallow: /admin\n');
    fs.renameSync(`${p}.new`, p); // what a build does: a new file under the old name
    const after = await get('/robots.txt', { 'if-none-match': before.headers.etag });
    assert.equal(after.status, 200);
    assert.notEqual(after.headers.etag, before.headers.etag);
    assert.equal(after.text, 'User-agent: *\nDisallow: /admin\n');
  });

  test('app routes fall back to index.html; a missing file with an extension is a plain 404', async () => {
    for (const p of ['/login', '/customer/bookings/123', '/customer/bookings/123/', '/provider/jobs?tab=open',
      '/assets', '/assets/']) {
      const r = await get(p);
      assert.equal(r.status, 200, p);
      assert.equal(r.text, INDEX, p);
      assert.equal(r.headers['content-type'], 'text/html; charset=utf-8', p);
      assert.equal(r.headers['cache-control'], 'no-cache', p);
    }
    for (const p of ['/assets/missing.js', '/assets/index-00000000.css', '/missing.png', '/about.html',
      '/user/jane.doe', '/assets/index-AbC123xy.js/x.js']) {
      const r = await get(p);
      assert.equal(r.status, 404, p);
      assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8', p);
      assert.equal(r.headers['x-content-type-options'], 'nosniff', p);
      assert.ok(!r.text.includes('<!doctype html>'), `${p} must not be index.html`);
    }
  });

  test('the query string plays no part in finding the file; Range is ignored', async () => {
    const r = await get('/assets/index-AbC123xy.js?v=123&x=/../../etc/passwd');
    assert.equal(r.status, 200);
    assert.equal(r.text, FILES['assets/index-AbC123xy.js'][0]);
    const ranged = await get('/medium.js', { range: 'bytes=0-9' });
    assert.equal(ranged.status, 200);
    assert.equal(ranged.headers['content-range'], undefined);
    assert.ok(ranged.body.equals(MEDIUM));
  });

  test('HEAD: the same headers as GET (Content-Length included) and no body', async () => {
    for (const p of ['/', '/assets/index-AbC123xy.js', '/medium.js', '/login', '/assets/missing.js']) {
      const g = await raw(app.port, p);
      const h = await raw(app.port, p, { method: 'HEAD' });
      assert.equal(h.status, g.status, p);
      assert.deepEqual(h.headers, g.headers, p);
      assert.equal(h.body.length, 0, `${p}: HEAD sent a body`);
      assert.equal(Number(g.headers['content-length']), g.body.length, p);
    }
    // on a keep-alive connection the next response starts right after HEAD's head
    const tag = (await get('/favicon.svg')).headers.etag;
    const both = await raw(app.port, '/medium.js', {
      method: 'HEAD',
      headers: { connection: 'keep-alive' },
      extra: `GET /favicon.svg HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`,
    });
    assert.equal(both.status, 200);
    assert.equal(Number(both.headers['content-length']), MEDIUM.length);
    const next = parseResponse(both.bytes.subarray(both.headLen));
    assert.equal(next.status, 200);
    assert.equal(next.headers.etag, tag);
    assert.equal(next.body.toString(), FILES['favicon.svg'][0]);
  });

  test('traversal, hidden files and symlinks out of the root → 404, never a file outside', async () => {
    const targets = [
      '/../', '/..', '/%2e%2e/', '/%2E%2E/outside/secret.txt', '/../outside/secret.txt', '/assets/../../outside/secret.txt',
      '/assets/..%2f..%2fetc/passwd', '/assets/..%2F..%2Foutside%2Fsecret.txt', '/..%2f..%2f..%2fetc%2fpasswd',
      '/.env', '/%2eenv', '/.git/config', '/.git', '/assets/.%2e/.env', '/./index.html',
      '/..%5c..%5coutside%5csecret.txt', '/a\\..\\..\\etc\\passwd',
      '/leak.txt', '/passwd.txt', '/assets/out/secret.txt', '/assets/out', '/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    ];
    for (const t of targets) {
      const r = await raw(app.port, t);
      assert.equal(r.status, 404, t);
      assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8', t);
      assert.ok(!r.bytes.includes(SECRET_TEXT), `${t} leaked the secret`);
      assert.ok(!r.bytes.includes('root:'), `${t} leaked /etc/passwd`);
      assert.ok(!r.bytes.includes('<!doctype html>'), `${t} fell back to index.html`);
    }
    // %00 never reaches a file name: the request reader refuses it
    const nul = await raw(app.port, '/index.html%00.js');
    assert.equal(nul.status, 400);
  });

  test('a file above the send queue bound → 500 with a reason, the connection stays usable', async () => {
    const r = await raw(app.port, '/huge.bin', {
      headers: { connection: 'keep-alive' },
      extra: 'GET /robots.txt HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    });
    assert.equal(r.status, 500);
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    assert.match(r.body.subarray(0, Number(r.headers['content-length'])).toString(), /too large/);
    assert.equal(parseResponse(r.bytes.subarray(r.headLen + Number(r.headers['content-length']))).status, 200);
    await app.waitForLog((l) => l.level === 'warn' && /SEND_QUEUE_MAX_BYTES/.test(l.msg) && l.path === 'huge.bin');
  });

  test('API paths answer as they do without WEB_ROOT (JSON, never index.html)', async () => {
    const cases = [
      // (not HEAD: http_respond writes API answers' bodies on HEAD too, which node's client refuses)
      ['GET', '/health'], ['GET', '/metrics'], ['GET', '/rest/v1/'], ['GET', '/rest/v1'],
      ['GET', '/rest/v1/bookings'], ['GET', '/auth/v1'], ['GET', '/auth/v1/nope'], ['GET', '/realtime/v1/nope'],
      ['GET', '/realtime/v1'], ['GET', '/realtime/v1/api/broadcast'], ['GET', '/realtime/v1/api/nothing'],
      ['GET', '/api/nothing'], ['GET', '/api'], ['GET', '/socket/x'], ['GET', '/metrics/x'], ['GET', '/health/x'],
      ['POST', '/'], ['POST', '/login'], ['PUT', '/index.html'], ['DELETE', '/assets/index-AbC123xy.js'],
      ['PATCH', '/'], ['OPTIONS', '/'], ['OPTIONS', '/login'],
    ];
    for (const [method, p] of cases) {
      const [a, b] = await Promise.all([app, bare].map((s) => httpRequest(s.port, p, { method })));
      assert.equal(a.status, b.status, `${method} ${p}`);
      assert.equal(a.headers['content-type'], b.headers['content-type'], `${method} ${p}`);
      if (p !== '/metrics' && p !== '/health') assert.equal(a.text, b.text, `${method} ${p}`);
      assert.ok(!a.text.includes('<!doctype html>'), `${method} ${p} answered index.html`);
    }
    const h = await httpRequest(app.port, '/health');
    assert.equal(h.status, 200);
    assert.equal(h.json.status, 'ok');
    const notFound = await httpRequest(app.port, '/realtime/v1/nope');
    assert.equal(notFound.status, 404);
    assert.deepEqual(notFound.json, { error: 'not found' });
  });

  test('without WEB_ROOT nothing is served: / is the JSON 404 it always was', async () => {
    for (const p of ['/', '/index.html', '/login', '/assets/index-AbC123xy.js']) {
      const r = await httpRequest(bare.port, p);
      assert.equal(r.status, 404, p);
      assert.match(r.headers['content-type'], /^application\/json/);
      assert.deepEqual(r.json, { error: 'not found' });
    }
  });
});

describe('a WEB_ROOT that is not built yet', () => {
  let server, dir, root;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-static-unbuilt-'));
    root = path.join(dir, 'dist');
    server = await startServer({ flags: ['--web-root', root] }); // the flag, this time
  });
  after(async () => {
    await teardown(server);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('warns at start-up; HTML routes 503 "not built", assets 404; served once built, without a restart', async () => {
    const warn = await server.waitForLog((l) => l.level === 'warn' && /WEB_ROOT/.test(l.msg));
    assert.equal(warn.web_root, root);
    assert.match(warn.msg, /not built/);
    for (const p of ['/', '/login', '/index.html']) {
      const r = await httpRequest(server.port, p);
      assert.equal(r.status, 503, p);
      assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(r.headers['cache-control'], 'no-store');
      assert.match(r.text, /the web app is not built: run scripts\/run\.sh/);
    }
    assert.equal((await httpRequest(server.port, '/assets/index-AbC123xy.js')).status, 404);
    assert.equal((await httpRequest(server.port, '/health')).status, 200);
    assert.equal((await httpRequest(server.port, '/realtime/v1/nope')).status, 404);

    // a directory without index.html is not a build either
    fs.mkdirSync(path.join(root, 'assets'), { recursive: true });
    fs.writeFileSync(path.join(root, 'assets', 'index-AbC123xy.js'), 'x');
    assert.equal((await httpRequest(server.port, '/')).status, 503);
    assert.equal((await httpRequest(server.port, '/assets/index-AbC123xy.js')).status, 200);

    fs.writeFileSync(path.join(root, 'index.html'), INDEX);
    const r = await httpRequest(server.port, '/login');
    assert.equal(r.status, 200);
    assert.equal(r.text, INDEX);
  });
});
