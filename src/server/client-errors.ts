/**
 * Requests Node's HTTP parser refuses before fastify sees them (malformed
 * request lines or headers, unknown methods, oversized headers, timeouts)
 * are answered in the one error shape too, then the connection is closed —
 * unless requests read earlier on the same connection (pipelined) are still
 * being answered: a 400 written now would be read as their answer, so a
 * write that succeeds would look rejected. Those finish first, then the
 * connection closes without a word about the bytes that did not parse.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionError } from 'fastify';
import { errorBody } from './errors.js';

/** Responses not yet finished, per connection. */
export class OpenResponses {
  private readonly open = new WeakMap<Socket, Set<ServerResponse>>();

  /** Listener for the server's `request` event. */
  readonly track = (req: IncomingMessage, res: ServerResponse): void => {
    let set = this.open.get(req.socket);
    if (!set) this.open.set(req.socket, (set = new Set()));
    set.add(res);
    res.on('close', () => set.delete(res));
  };

  /** Fastify's `clientErrorHandler`. */
  readonly handleClientError = (err: ConnectionError, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    // justifies: INV-HTTP-PIPELINE-ANSWERS
    // Only whole requests are answered; one still missing body bytes is the request that failed.
    const pending = [...(this.open.get(socket) ?? [])].filter((res) => res.req.complete);
    if (pending.length > 0) {
      let left = pending.length;
      for (const res of pending) res.on('close', () => --left === 0 && socket.end());
      return;
    }
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const message = err.code === 'HPE_HEADER_OVERFLOW' ? 'request headers are too large' : timedOut ? 'the request did not arrive in time' : 'malformed HTTP request';
    const body = JSON.stringify(errorBody(timedOut ? 'request_timeout' : 'bad_request', message));
    const status = timedOut ? '408 Request Timeout' : '400 Bad Request';
    // A HEAD request gets the headers only, as HTTP requires. Node passes the bytes it choked on as a Buffer (fastify's type says otherwise).
    const raw: unknown = err.rawPacket;
    const head = Buffer.isBuffer(raw) && raw.toString('latin1', 0, 5) === 'HEAD ';
    if (socket.writable) {
      socket.write(`HTTP/1.1 ${status}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${head ? '' : body}`);
    }
    socket.destroy(err);
  };
}
