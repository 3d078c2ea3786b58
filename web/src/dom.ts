/** A tiny DOM builder and the formatters every panel shares (no framework: the page stays small and fast). */

type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

/** A number with its unit, or an em dash for "unknown" (never a fake 0). */
export const dash = '—';

export function num(v: number | null | undefined, digits = 0): string {
  if (v === null || v === undefined || Number.isNaN(v)) return dash;
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined) return dash;
  if (v < 1) return `${num(v, 3)} ms`;
  if (v < 1000) return `${num(v, 1)} ms`;
  if (v < 60_000) return `${num(v / 1000, 2)} s`;
  if (v < 3_600_000) return `${num(v / 60_000, 1)} min`;
  return `${num(v / 3_600_000, 1)} h`;
}

export function bytes(v: number | null | undefined): string {
  if (v === null || v === undefined) return dash;
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let x = Math.abs(v);
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${v < 0 ? '−' : ''}${num(x, x < 10 && i > 0 ? 1 : 0)} ${units[i]}`;
}

export function pct(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined ? dash : `${num(v * 100, digits)} %`;
}

export function ago(iso: string | null | undefined): string {
  if (!iso) return dash;
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (s < 90) return `${Math.max(0, Math.round(s))} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129_600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function time(iso: string | null | undefined): string {
  if (!iso) return dash;
  return new Date(iso).toLocaleString('en-GB', { hour12: false });
}

/** A table: headers (a string, or [label, class]) and rows of cells; an empty list says why. */
export function table(headers: (string | [string, string])[], rows: Child[][], empty: string): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  const wrap = h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      null,
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          headers.map((c) =>
            Array.isArray(c) ? h('th', { scope: 'col', class: c[1] }, c[0]) : h('th', { scope: 'col' }, c),
          ),
        ),
      ),
      h(
        'tbody',
        null,
        rows.map((r) =>
          h(
            'tr',
            null,
            r.map((c, i) => h('td', { class: numericHeader(headers[i]) ? 'n' : null }, c)),
          ),
        ),
      ),
    ),
  );
  // A table wider than its panel scrolls: then it is focusable, so the keyboard can scroll it too.
  new ResizeObserver(() => {
    if (wrap.scrollWidth > wrap.clientWidth) {
      wrap.setAttribute('tabindex', '0');
      wrap.setAttribute('role', 'region');
      wrap.setAttribute('aria-label', `table: ${headers.map((c) => (Array.isArray(c) ? c[0] : c)).join(', ')}`);
    } else {
      wrap.removeAttribute('tabindex');
      wrap.removeAttribute('role');
      wrap.removeAttribute('aria-label');
    }
  }).observe(wrap);
  return wrap;
}

const numericHeader = (c: string | [string, string] | undefined) => Array.isArray(c) && c[1] === 'n';

/** A status badge: ok, warning, critical, unknown, or a verdict. */
export function badge(text: string, kind = text): HTMLElement {
  return h('span', { class: `badge ${kind}` }, text);
}

/** A progress bar with its label (share 0–1). */
export function bar(share: number | null | undefined, label: string): HTMLElement {
  const v = share === null || share === undefined ? 0 : Math.max(0, Math.min(1, share));
  return h(
    'span',
    {
      class: 'bar',
      role: 'progressbar',
      'aria-valuemin': 0,
      'aria-valuemax': 100,
      'aria-valuenow': Math.round(v * 100),
      'aria-label': label,
    },
    h('span', { class: 'bar-fill', style: `width:${(v * 100).toFixed(1)}%` }),
    h('span', { class: 'bar-label' }, label),
  );
}
