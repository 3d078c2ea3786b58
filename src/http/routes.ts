import FindMyWay from 'find-my-way';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../common/errors';
import { sendProblem } from './problem';

/** Routes open without a token: the probes, the documentation (Swagger UI and its assets), the dashboard's page. */
const PUBLIC_ROUTES = new Set(['/health/live', '/health/ready', '/docs', '/docs-json', '/docs-yaml']);
const PROBE_ROUTES = new Set(['/health/live', '/health/ready']);

/**
 * What a request is, decided from the route the router matched (the decoded path), never from the raw URL: `/%61pi/…`
 * matches the /api route and must be treated as one. A request whose method has no route on its path is judged by the
 * route its path has (so another method on /api still needs the token, and gets a 405 once it has one); a path that
 * matches no route at all is none of these, and so is protected like the API.
 */
export class RouteTable {
  /** The same matching rules as pgscope's Fastify router (see createApp). */
  private readonly router = FindMyWay({ ignoreTrailingSlash: true, maxParamLength: 200 });
  private readonly methods = new Map<string, Set<string>>();

  register(fastify: FastifyInstance): void {
    fastify.addHook('onRoute', (route) => {
      let methods = this.methods.get(route.url);
      if (!methods) {
        methods = new Set();
        this.methods.set(route.url, methods);
        this.router.on('GET', route.url, () => undefined, { url: route.url });
      }
      for (const method of [route.method].flat()) methods.add(method);
    });
    // Another method on a known path: 405 with Allow, before any body is parsed (a QUERY without a body would
    // otherwise be a 400 about its Content-Type). Runs after authentication, which the hook order in createApp keeps.
    fastify.addHook('onRequest', async (request, reply) => {
      if (!request.is404) return;
      const route = this.routeOf(request);
      if (route === undefined) return;
      const allowed = [...(this.methods.get(route) ?? [])].sort();
      return sendProblem(reply, new MethodNotAllowedError(request.method, allowed), { allow: allowed.join(', ') });
    });
  }

  /** The route pattern the request's path resolves to, whatever its method; undefined when none. */
  routeOf(request: FastifyRequest): string | undefined {
    if (!request.is404) return request.routeOptions.url;
    const found = this.router.find('GET', request.url.split('?', 1)[0]);
    return (found?.store as { url?: string } | undefined)?.url;
  }

  isPublic(request: FastifyRequest): boolean {
    const route = this.routeOf(request);
    return (
      route !== undefined &&
      (PUBLIC_ROUTES.has(route) || route.startsWith('/docs/') || route === '/' || route.startsWith('/ui/'))
    );
  }

  /** The Prometheus endpoint (it also accepts METRICS_TOKENS). */
  isMetrics(request: FastifyRequest): boolean {
    return this.routeOf(request) === '/metrics';
  }

  /** Probes are never rate limited: an orchestrator must always get an answer. */
  isProbe(request: FastifyRequest): boolean {
    return PROBE_ROUTES.has(this.routeOf(request) ?? '');
  }

  /** A monitoring API route answered with GET (the response cache's scope). */
  apiRoute(request: FastifyRequest): string | undefined {
    if (request.is404 || request.method !== 'GET') return undefined;
    const route = request.routeOptions.url;
    return route?.startsWith('/api/') ? route : undefined;
  }
}

class MethodNotAllowedError extends AppError {
  constructor(method: string, allowed: string[]) {
    super(
      'METHOD_NOT_ALLOWED',
      405,
      'Method not allowed',
      `${method} is not allowed here: this resource answers ${allowed.join(', ')} only.`,
      'pgscope only reads: use GET.',
    );
  }
}
