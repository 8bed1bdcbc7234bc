/**
 * Regressions the REST fuzz found: answers that came from fastify or Node
 * rather than from Tally, so they lacked the one error shape, and a write
 * whose answer was replaced by the 400 of malformed bytes pipelined behind it.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { exchange, parseResponses, watchConnections } from './fuzz-raw.js';

let srv: TestServer | undefined;
afterEach(async () => {
  await srv?.close();
  srv = undefined;
});

/** Sends raw bytes and returns the responses (`heads`: which answer HEAD). */
async function raw(s: TestServer, text: string | Buffer, heads: boolean[] = []) {
  const probe = watchConnections(s.app.server);
  const { data } = await exchange(Number(new URL(s.url).port), typeof text === 'string' ? Buffer.from(text, 'latin1') : text, probe);
  return parseResponses(data, heads);
}

const shape = (r: { status: number; headers: Record<string, string>; body: Buffer }) => ({ status: r.status, type: r.headers['content-type'], body: r.body.length ? JSON.parse(r.body.toString()) : '' });
const badRequest = { status: 400, type: 'application/json; charset=utf-8', body: { error: { code: 'bad_request', message: expect.any(String) } } };

describe('protocol errors in the one error shape', () => {
  it('answers a path that is not valid percent-encoding with 400 bad_request (was fastify FST_ERR_BAD_URL)', async () => {
    srv = await startServer();
    const t = await srv.tenant('acme');
    for (const path of ['/blocks/%zz', '/blocks/%E0%A4', '/blocks/%']) {
      const res = await fetch(srv.url + path, { headers: { authorization: `Bearer ${t}` } });
      expect({ status: res.status, type: res.headers.get('content-type'), body: await res.json() }, path).toEqual(badRequest);
    }
  });

  it('answers a key segment beyond the router limit with 400 bad_request (was fastify 414 FST_ERR_MAX_PARAM_LENGTH)', async () => {
    srv = await startServer();
    const t = await srv.tenant('acme');
    const res = await fetch(`${srv.url}/blocks/${'k'.repeat(3200)}`, { headers: { authorization: `Bearer ${t}` } });
    expect({ status: res.status, type: res.headers.get('content-type'), body: await res.json() }).toEqual(badRequest);
  });

  it('answers what the HTTP parser refuses with 400 bad_request, and HEAD with headers only (was fastify "Client Error")', async () => {
    srv = await startServer();
    for (const req of ['FOO /health HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /health HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n', `GET /health HTTP/1.1\r\nHost: x\r\nX: ${'b'.repeat(20_000)}\r\n\r\n`, 'GET /blocks/\xff HTTP/1.1\r\nHost: x\r\n\r\n']) {
      const answers = await raw(srv, req);
      expect(answers.map(shape), JSON.stringify(req.slice(0, 60))).toEqual([badRequest]);
    }
    const head = await raw(srv, 'HEAD /blocks/\xff HTTP/1.1\r\nHost: x\r\n\r\n', [true]);
    expect(head.map((r) => [r.status, r.body.length])).toEqual([[400, 0]]);
  });

  it('answers an HTTP/1.1 request without Host with 400 bad_request (was an empty 400 from Node), docs routes too, and one without HTTP/1.1 normally', async () => {
    srv = await startServer();
    expect((await raw(srv, 'GET /health HTTP/1.1\r\n\r\n')).map(shape)).toEqual([badRequest]);
    // The docs plugin is registered before the routes: it inherits the error handler only because that is set first.
    expect((await raw(srv, 'GET /docs HTTP/1.1\r\n\r\n')).map(shape)).toEqual([badRequest]);
    expect((await raw(srv, 'GET /health HTTP/1.0\r\n\r\n')).map(shape)).toEqual([{ status: 200, type: 'application/json; charset=utf-8', body: { status: 'ok' } }]);
  });

  it('ignores an Expect it does not know (was an empty 417 from Node)', async () => {
    srv = await startServer();
    expect((await raw(srv, 'GET /health HTTP/1.1\r\nHost: x\r\nExpect: the-unexpected\r\n\r\n')).map((r) => r.status)).toEqual([200]);
  });

  it('answers a write followed by pipelined junk with the write receipt, not with the junk 400 (the write was committed unacknowledged)', async () => {
    srv = await startServer();
    const t = await srv.tenant('acme');
    const tid = () => srv!.db.journal.tenant('acme')!.id;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('GARBAGE\r\n\r\n', 'FOO / HTTP/1.1\r\n\r\n', '\x00\x01\x02', 'GET /health HTTP/1.1\r\nX: a\0\r\n\r\n'), async (junk) => {
        const before = srv!.db.journal.size(tid());
        const put = `PUT /blocks/k HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t}\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"data":1}`;
        const answers = await raw(srv!, put + junk);
        expect(answers.map((a) => a.status)).toEqual([200]);
        expect((JSON.parse(answers[0]!.body.toString()) as { version: number }).version).toBe(before);
        expect(srv!.db.journal.size(tid())).toBe(before + 1);
      }),
      { numRuns: 8 },
    );
  });
});
