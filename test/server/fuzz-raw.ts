/**
 * Raw-socket side of the REST fuzz: malformed HTTP/1.x that no client
 * library would send (bad request lines, broken framing, smuggling shapes,
 * oversized headers, pipelining, random bytes), and a small parser for
 * whatever the server answers on the connection.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';

/** One response read back from a raw connection. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** What the server is doing on one connection, keyed by the client's port. */
export type ConnectionProbe = (clientPort: number) => { bytesRead: number; handling: number } | undefined;

/**
 * Watches a server's connections: bytes read, and requests it is handling
 * (whole request received, response not finished). A request still waiting
 * for body bytes does not count: no route runs before its body is complete.
 */
export function watchConnections(server: Server): ConnectionProbe {
  const conns = new Map<number, { socket: Socket; requests: Set<IncomingMessage> }>();
  server.on('connection', (socket: Socket) => {
    const port = socket.remotePort!;
    conns.set(port, { socket, requests: new Set() });
    socket.on('close', () => conns.delete(port));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const c = conns.get(req.socket.remotePort!);
    c?.requests.add(req);
    res.on('close', () => c?.requests.delete(req));
  });
  return (port) => {
    const c = conns.get(port);
    return c && { bytesRead: c.socket.bytesRead, handling: [...c.requests].filter((r) => r.complete).length };
  };
}

/**
 * Writes `bytes` and collects everything the server sends. Once the server
 * has read every byte and handles no complete request on the connection, the
 * client half-closes: the server then answers nothing more and closes. (A
 * half-close any earlier would abort a request being handled, and a write
 * could land without its answer.)
 */
export function exchange(port: number, bytes: Buffer, probe: ConnectionProbe, ms = 10_000): Promise<{ data: Buffer; timedOut: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timedOut = false;
    let ended = false;
    const poll = setInterval(() => {
      const st = s.localPort === undefined ? undefined : probe(s.localPort);
      if (!ended && st && st.bytesRead >= bytes.length && st.handling === 0) {
        ended = true;
        s.end();
      }
    }, 5);
    const timer = setTimeout(() => {
      timedOut = true;
      s.destroy();
    }, ms);
    s.on('connect', () => s.write(bytes));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {});
    s.on('close', () => {
      clearInterval(poll);
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), timedOut });
    });
  });
}

/**
 * Splits a connection's bytes into responses (Content-Length or chunked
 * framing; `heads` tells which responses answer HEAD and carry no body).
 * @throws Error when the bytes are not HTTP responses at all.
 */
export function parseResponses(data: Buffer, heads: readonly boolean[] = []): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  while (at < data.length) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0) throw new Error(`unterminated response head: ${JSON.stringify(data.toString('latin1', at, at + 200))}`);
    const [statusLine, ...lines] = data.toString('latin1', at, end).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) /.exec(statusLine + ' ');
    if (!m) throw new Error(`not a status line: ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    at = end + 4;
    let body: Buffer = Buffer.alloc(0);
    if (m[1]!.startsWith('1')) {
      // 100 Continue: an interim response without a body; the final one follows.
      continue;
    } else if (heads[out.length]) {
      // no body
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      body = data.subarray(at, at + n);
      at += n;
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts: Buffer[] = [];
      for (;;) {
        const eol = data.indexOf('\r\n', at);
        const size = parseInt(data.toString('latin1', at, eol), 16);
        at = eol + 2;
        if (!(size > 0)) {
          at += 2;
          break;
        }
        parts.push(data.subarray(at, at + size));
        at += size + 2;
      }
      body = Buffer.concat(parts);
    } else {
      body = data.subarray(at);
      at = data.length;
    }
    out.push({ status: Number(m[1]), headers, body });
  }
  return out;
}

/** A raw case: its bytes and, per expected response, whether it answers HEAD. */
export interface RawCase {
  name: string;
  bytes: Buffer;
  heads?: boolean[];
}

const crlf = (lines: string[]) => lines.join('\r\n');

/** Hand-written malformed requests; `$admin` and `$read` are replaced with real tokens. */
export function fixedCases(tokens: { admin: string; read: string }): RawCase[] {
  const A = `Authorization: Bearer ${tokens.admin}`;
  const put = (extra: string[], body: string) => crlf(['PUT /blocks/raw HTTP/1.1', 'Host: x', A, 'Content-Type: application/json', ...extra, '', body]);
  const cases: [string, string | Buffer][] = [
    ['a well-formed GET (control)', crlf(['GET /health HTTP/1.1', 'Host: x', '', ''])],
    ['a well-formed PUT (control)', put(['Content-Length: 12'], '{"data":"r"}')],
    ['an unknown method', crlf(['FOO /health HTTP/1.1', 'Host: x', '', ''])],
    ['a lower-case method', crlf(['get /health HTTP/1.1', 'Host: x', '', ''])],
    ['HTTP/9.9', crlf(['GET /health HTTP/9.9', 'Host: x', '', ''])],
    ['HTTP/0.9 style', 'GET /health\r\n\r\n'],
    ['HTTP/1.0 without Host', crlf(['GET /blocks/a HTTP/1.0', A, '', ''])],
    ['HTTP/1.1 without Host', crlf(['GET /health HTTP/1.1', '', ''])],
    ['two Host headers', crlf(['GET /health HTTP/1.1', 'Host: x', 'Host: y', '', ''])],
    ['a header without a colon', crlf(['GET /health HTTP/1.1', 'Host: x', 'Bad Header', '', ''])],
    ['a NUL in a header value', crlf(['GET /health HTTP/1.1', 'Host: x', 'X: a\0b', '', ''])],
    ['an obsolete line fold', crlf(['GET /blocks/a HTTP/1.1', 'Host: x', 'Authorization: Bearer', ` ${tokens.admin}`, '', ''])],
    ['a space before the colon', crlf(['GET /health HTTP/1.1', 'Host : x', '', ''])],
    ['bare LF line ends', 'GET /health HTTP/1.1\nHost: x\n\n'],
    ['a space in the target', crlf(['GET /blocks/a b HTTP/1.1', 'Host: x', A, '', ''])],
    ['a raw 0xff in the target', Buffer.from('GET /blocks/\xff HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1')],
    ['HEAD with a raw 0xff in the target', Buffer.from('HEAD /blocks/\xff HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1')],
    ['an absolute-form target', crlf(['GET http://evil.example/health HTTP/1.1', 'Host: x', '', ''])],
    ['an asterisk-form OPTIONS', crlf(['OPTIONS * HTTP/1.1', 'Host: x', '', ''])],
    ['CONNECT', crlf(['CONNECT evil.example:443 HTTP/1.1', 'Host: evil.example:443', '', ''])],
    ['an Upgrade to websocket', crlf(['GET /health HTTP/1.1', 'Host: x', 'Connection: Upgrade', 'Upgrade: websocket', '', ''])],
    ['headers beyond 16 KiB', crlf(['GET /health HTTP/1.1', 'Host: x', `X-Big: ${'b'.repeat(20_000)}`, '', ''])],
    ['HEAD with headers beyond 16 KiB', crlf(['HEAD /health HTTP/1.1', 'Host: x', `X-Big: ${'b'.repeat(20_000)}`, '', ''])],
    ['a target beyond 16 KiB', crlf([`GET /blocks/${'k'.repeat(20_000)} HTTP/1.1`, 'Host: x', A, '', ''])],
    ['10,000 headers', crlf(['GET /health HTTP/1.1', 'Host: x', ...Array.from({ length: 10_000 }, (_, i) => `X-${i}: v`), '', ''])],
    ['Content-Length: -1', put(['Content-Length: -1'], '{"data":1}')],
    ['Content-Length: abc', put(['Content-Length: abc'], '{"data":1}')],
    ['Content-Length: 1e3', put(['Content-Length: 1e3'], '{"data":1}')],
    ['two different Content-Lengths', put(['Content-Length: 10', 'Content-Length: 11'], '{"data":1}')],
    ['Content-Length beyond the body', put(['Content-Length: 100'], '{"data":1}')],
    ['Content-Length short of the body (the rest is junk)', put(['Content-Length: 10'], '{"data":1}GARBAGE\r\n\r\n')],
    ['Content-Length beyond the body limit', put(['Content-Length: 99999999999'], '{"data":1}')],
    ['Content-Length and chunked (smuggling)', put(['Content-Length: 4', 'Transfer-Encoding: chunked'], '0\r\n\r\nGET /admin/tenants HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['chunked with a bad chunk size', put(['Transfer-Encoding: chunked'], 'zz\r\n{"data":1}\r\n0\r\n\r\n')],
    ['chunked with a short chunk', put(['Transfer-Encoding: chunked'], 'ff\r\n{"data":1}\r\n0\r\n\r\n')],
    ['chunked with a huge chunk size', put(['Transfer-Encoding: chunked'], 'ffffffffffffffff\r\n{"data":1}\r\n0\r\n\r\n')],
    ['chunked with a chunk extension and trailer', put(['Transfer-Encoding: chunked'], 'a;ext=1\r\n{"data":1}\r\n0\r\nX-Trailer: t\r\n\r\n')],
    ['gzip, chunked', put(['Transfer-Encoding: gzip, chunked'], 'a\r\n{"data":1}\r\n0\r\n\r\n')],
    ['Transfer-Encoding: identity', put(['Transfer-Encoding: identity'], '{"data":1}')],
    ['Expect: 100-continue', put(['Content-Length: 12', 'Expect: 100-continue'], '{"data":"e"}')],
    ['an unknown Expect', crlf(['GET /health HTTP/1.1', 'Host: x', 'Expect: the-unexpected', '', ''])],
    ['a body that ends mid-JSON', put(['Content-Length: 5'], '{"dat')],
    ['pipelined reads', crlf(['GET /health HTTP/1.1', 'Host: x', '', 'GET /blocks/a HTTP/1.1', 'Host: x', `Authorization: Bearer ${tokens.read}`, '', 'GET /nope HTTP/1.1', 'Host: x', '', ''])],
    ['a pipelined read then junk', crlf(['GET /health HTTP/1.1', 'Host: x', '', 'JUNK JUNK JUNK', '', ''])],
    ['only the request line', 'GET /health HTTP/1.1\r\n'],
    ['nothing but CRLFs', '\r\n\r\n\r\n\r\n'],
    ['TLS ClientHello bytes', Buffer.from('1603010200010001fc0303', 'hex')],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
  ];
  return cases.map(([name, bytes]) => ({ name, bytes: typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes, heads: name.startsWith('HEAD') ? [true] : [] }));
}

const token = fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS', 'FOO', 'get', '', 'G ET', 'PROPFIND');
const target = fc.oneof(
  fc.constantFrom('/health', '/blocks/a', '/blocks/raw', '/batch', '/events', '/blocks', '*', '', '/'),
  fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 30 }).map((s) => '/' + s),
);
const version = fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1x', '', 'http/1.1', 'HTTP/1.01');
const eol = fc.constantFrom('\r\n', '\r\n', '\n', '\r');
const headerLine = fc.oneof(
  fc.constantFrom('Host: x', 'Host: x', 'Authorization: Bearer $admin', 'Content-Type: application/json', 'Content-Length: 0', 'Content-Length: 12', 'Transfer-Encoding: chunked', 'Connection: close', 'Connection: keep-alive', 'Expect: 100-continue'),
  fc.tuple(fc.string({ maxLength: 10 }), fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 20 })).map(([k, v]) => `${k}:${v}`),
);
const body = fc.oneof(fc.constantFrom('', '{"data":1}', '{"data":"r"}', '0\r\n\r\n', 'c\r\n{"data":"c"}\r\n0\r\n\r\n'), fc.string({ maxLength: 40 }));

/** Generated near-HTTP: a request line, header lines and a body from pieces, with odd line ends. */
export const nearHttp: fc.Arbitrary<RawCase> = fc
  .tuple(token, target, version, fc.array(headerLine, { maxLength: 6 }), eol, body)
  .map(([m, t, v, hs, nl, b]) => ({ name: 'generated', bytes: Buffer.from([`${m} ${t} ${v}`, ...hs, '', b].join(nl), 'latin1'), heads: m === 'HEAD' ? [true] : [] }));

/** Random bytes, sometimes behind a valid request line. */
export const randomBytes: fc.Arbitrary<RawCase> = fc
  .tuple(fc.constantFrom('', 'GET /health HTTP/1.1\r\n', 'PUT /blocks/a HTTP/1.1\r\nHost: x\r\n'), fc.uint8Array({ maxLength: 300 }))
  .map(([prefix, bytes]) => ({ name: 'random bytes', bytes: Buffer.concat([Buffer.from(prefix), Buffer.from(bytes)]) }));
