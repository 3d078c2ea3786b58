import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RouteTable } from './routes';

/** The fresh-response marker every monitoring body carries in its meta (see buildMeta). */
export const FRESH_MARK = '"cached":false,"ageMs":0';
const MAX_ENTRIES = 500;

interface Entry {
  /**
   * The serialised body around the meta.cached/meta.ageMs pair, encoded once: a hit writes these shared bytes and a
   * few of its own. (Concatenating a new string per hit put a copy of every body on the large-object heap: 50
   * clients polling /indexes at 10,000 tables took the service to 336 MB.)
   */
  before: Buffer;
  after: Buffer;
  etag: string;
  storedAt: number;
}

/**
 * Shared collection for GET /api: concurrent identical requests share one collection (single flight) and the
 * serialised body is reused for CACHE_TTL_MS. Responses carry meta.cached and meta.ageMs, Cache-Control and a weak
 * ETag answering If-None-Match with 304. Only 200 responses are kept. The key is the target, the matched route and
 * the query, with parameters sorted.
 */
export class ResponseCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<Entry | undefined>>();
  private readonly resolvers = new WeakMap<FastifyRequest, (entry: Entry | undefined) => void>();

  constructor(
    private readonly ttlMs: number,
    private readonly routes: RouteTable,
  ) {}

  register(fastify: FastifyInstance): void {
    fastify.addHook('onRequest', async (request, reply) => this.onRequest(request, reply));
    fastify.addHook('onSend', async (request, reply, payload) => this.onSend(request, reply, payload));
    fastify.addHook('onResponse', async (request) => this.settle(request, undefined));
  }

  key(request: FastifyRequest): string | undefined {
    const route = this.routes.apiRoute(request);
    if (route === undefined) return undefined;
    // The matched route, not the raw path: /%61pi/… and /api/… are one resource, and share one entry.
    const query = request.url.split('?', 2)[1] ?? '';
    const params = new URLSearchParams(query);
    const sorted = [...params.entries()].sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : 1) : a < b ? -1 : 1));
    // Keyed by the watched server first: one target's answers (and its single flight) never serve another's.
    return `${params.get('target') ?? ''}\u0000${route}?${new URLSearchParams(sorted).toString()}`;
  }

  private async onRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const key = this.key(request);
    if (key === undefined) return;
    if (this.ttlMs <= 0) return;
    // Checked and claimed synchronously: an await in between would let concurrent requests all collect.
    const stored = this.fresh(key);
    const pending = stored ? undefined : this.inFlight.get(key);
    const entry = stored ?? (pending ? await pending : undefined);
    if (entry) {
      this.sendCached(request, reply, entry);
      return reply;
    }
    // This request collects; concurrent identical ones wait for it.
    if (!this.inFlight.has(key)) {
      this.inFlight.set(key, new Promise((resolve) => this.resolvers.set(request, resolve)));
    }
  }

  private async onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const key = this.key(request);
    if (key === undefined || typeof payload !== 'string' || reply.statusCode !== 200 || reply.getHeader('etag')) {
      return payload;
    }
    const at = payload.indexOf(FRESH_MARK);
    if (at < 0) return payload;
    const entry: Entry = {
      before: Buffer.from(payload.slice(0, at)),
      after: Buffer.from(payload.slice(at + FRESH_MARK.length)),
      etag: `W/"${createHash('sha1').update(payload).digest('base64url')}"`,
      storedAt: Date.now(),
    };
    if (this.ttlMs > 0) {
      this.store(key, entry);
      this.settle(request, entry);
    }
    reply.header('etag', entry.etag);
    reply.header('cache-control', this.cacheControl(entry));
    if (this.notModified(request, entry)) {
      reply.code(304);
      return '';
    }
    return payload;
  }

  private settle(request: FastifyRequest, entry: Entry | undefined): void {
    const resolve = this.resolvers.get(request);
    if (!resolve) return;
    this.resolvers.delete(request);
    const key = this.key(request);
    if (key !== undefined) this.inFlight.delete(key);
    resolve(entry);
  }

  private fresh(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && Date.now() - entry.storedAt < this.ttlMs) return entry;
    if (entry) this.entries.delete(key);
    return undefined;
  }

  private store(key: string, entry: Entry): void {
    if (this.entries.size >= MAX_ENTRIES) {
      const now = Date.now();
      for (const [k, e] of this.entries) if (now - e.storedAt >= this.ttlMs) this.entries.delete(k);
      if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
    }
    this.entries.set(key, entry);
  }

  private cacheControl(entry: Entry): string {
    if (this.ttlMs <= 0) return 'private, no-cache';
    const left = Math.max(0, this.ttlMs - (Date.now() - entry.storedAt));
    return `private, max-age=${Math.floor(left / 1000)}`;
  }

  private notModified(request: FastifyRequest, entry: Entry): boolean {
    const header = request.headers['if-none-match'];
    if (!header) return false;
    return header
      .split(',')
      .map((t) => t.trim())
      .some((t) => t === entry.etag || t === '*' || `W/${t}` === entry.etag);
  }

  private sendCached(request: FastifyRequest, reply: FastifyReply, entry: Entry): void {
    reply.header('etag', entry.etag);
    reply.header('cache-control', this.cacheControl(entry));
    if (this.notModified(request, entry)) {
      void reply.code(304).send();
      return;
    }
    const age = Date.now() - entry.storedAt;
    const middle = Buffer.from(`"cached":true,"ageMs":${age}`);
    void reply
      .code(200)
      .header('content-type', 'application/json; charset=utf-8')
      .header('content-length', entry.before.length + middle.length + entry.after.length)
      .send(Readable.from([entry.before, middle, entry.after], { objectMode: false }));
  }
}
