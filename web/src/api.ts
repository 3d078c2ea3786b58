/**
 * The page reads only the public API, through the SDK generated from openapi.json: whatever it shows, a script can
 * get too. The token (when the service wants one) is kept for the browser session only.
 */
import { client } from '../../sdk/client.gen';

const TOKEN_KEY = 'pgscope.token';

export interface Problem {
  status: number;
  code: string;
  title: string;
  detail: string;
  hint?: string | null;
}

export type Result<T> = { ok: true; data: T } | { ok: false; problem: Problem };

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value: string | null): void {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

client.setConfig({ baseUrl: location.origin, auth: () => token() ?? undefined });

/** Every request the page made (the browser tests read what the range picker changed). */
export const requested: string[] = [];

client.interceptors.request.use((request: Request) => {
  requested.push(request.url.replace(location.origin, ''));
  return request;
});

/** Listeners of a 401: the page asks for a token. */
const unauthorized: (() => void)[] = [];
export function onUnauthorized(fn: () => void): void {
  unauthorized.push(fn);
}

/** Calls an SDK function; a failure becomes the problem+json the API answered (or a network problem). */
export async function call<T>(
  fn: () => Promise<{ data?: T; error?: unknown; response?: Response }>,
): Promise<Result<T>> {
  try {
    const { data, error, response } = await fn();
    if (response && response.ok && data !== undefined) return { ok: true, data };
    const status = response?.status ?? 0;
    if (status === 401) for (const l of unauthorized) l();
    const body = (error ?? {}) as Partial<Problem>;
    return {
      ok: false,
      problem: {
        status,
        code: body.code ?? `HTTP_${status}`,
        title: body.title ?? 'Request failed',
        detail: body.detail ?? (typeof error === 'string' ? error : 'The service did not answer as expected.'),
        hint: body.hint ?? null,
      },
    };
  } catch (err) {
    return {
      ok: false,
      problem: {
        status: 0,
        code: 'NETWORK',
        title: 'pgscope did not answer',
        detail: err instanceof Error ? err.message : String(err),
        hint: 'Is the service running? The page retries at the next refresh.',
      },
    };
  }
}
