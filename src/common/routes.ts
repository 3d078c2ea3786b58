import type { FastifyRequest } from 'fastify';

/**
 * What a request is, decided from the route the router matched (the decoded, normalised path), never from the raw
 * URL: `/%61pi/…` matches the /api route and must be treated as one. A request that matched no route is none of
 * these, and so is protected like the API.
 */
export function matchedRoute(request: FastifyRequest): string | undefined {
  return request.is404 ? undefined : request.routeOptions.url;
}

/** Routes open without a token: the probes and the documentation (Swagger UI and its assets). */
const PUBLIC_ROUTES = new Set(['/health/live', '/health/ready', '/docs', '/docs/*', '/docs-json', '/docs-yaml']);

export function isPublicRoute(request: FastifyRequest): boolean {
  const route = matchedRoute(request);
  return route !== undefined && (PUBLIC_ROUTES.has(route) || route.startsWith('/docs/'));
}

/** Probes are never rate limited: an orchestrator must always get an answer. */
export function isProbeRoute(request: FastifyRequest): boolean {
  const route = matchedRoute(request);
  return route === '/health/live' || route === '/health/ready';
}

/** A monitoring API route (the response cache's scope). */
export function isApiRoute(request: FastifyRequest): boolean {
  return matchedRoute(request)?.startsWith('/api/') ?? false;
}
