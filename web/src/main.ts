/**
 * pgscope's dashboard: what an on-call engineer opens first. Built only on the public API (the generated SDK), its
 * state in the URL (a link pasted into an incident channel opens the same view), every panel following the
 * target, database and time range picked at the top.
 */
import 'uplot/dist/uPlot.min.css';
import './style.css';
import {
  getActivity,
  getCache,
  getDatabaseHistory,
  getLoad,
  getLoadTop,
  getReplication,
  getSizesHistory,
  getStatementHistory,
  getVacuum,
  listChecks,
  listIndexes,
  listLockChains,
  listStatements,
  listTargets,
} from '../../sdk/sdk.gen';
import type { SessionDto, TargetDto } from '../../sdk/types.gen';
import { call, onUnauthorized, Problem, requested, Result, setToken, token } from './api';
import { chart, colourOf, sparkline } from './charts';
import { ago, badge, bar, bytes, dash, h, ms, num, pct, table, time } from './dom';

const VIEWS = [
  ['overview', 'Overview'],
  ['statements', 'Statements'],
  ['sessions', 'Sessions'],
  ['indexes', 'Indexes & tables'],
  ['database', 'Database'],
  ['maintenance', 'Maintenance'],
  ['replication', 'Replication'],
] as const;
type View = (typeof VIEWS)[number][0];
const RANGES = ['15m', '1h', '6h', '24h', '7d'] as const;
const REFRESH = [0, 10, 30, 60] as const;

/** Everything a view depends on: what the URL carries. */
interface State {
  target: string | null;
  database: string | null;
  /** A preset (15m … 7d) or `custom` (from/to). */
  range: string;
  from: string | null;
  to: string | null;
  view: View;
  refresh: number;
  /** The statement whose history is open. */
  statement: string | null;
  /** Top statements by load (sampled sessions) or by execution time (pg_stat_statements). */
  by: 'load' | 'time';
  /** A moment (and band) picked on the load chart: the statements below are those of that bucket. */
  pickFrom: string | null;
  pickTo: string | null;
  pickWait: string | null;
}

function readState(): State {
  const q = new URLSearchParams(location.search);
  const view = (VIEWS.map((v) => v[0]) as string[]).includes(q.get('view') ?? '')
    ? (q.get('view') as View)
    : 'overview';
  const range = q.get('range') ?? '1h';
  return {
    target: q.get('target'),
    database: q.get('database'),
    range: range === 'custom' || (RANGES as readonly string[]).includes(range) ? range : '1h',
    from: q.get('from'),
    to: q.get('to'),
    view,
    refresh: Number(q.get('refresh') ?? 30) || 0,
    statement: q.get('statement'),
    by: q.get('by') === 'time' ? 'time' : 'load',
    pickFrom: q.get('pickFrom'),
    pickTo: q.get('pickTo'),
    pickWait: q.get('pickWait'),
  };
}

function writeState(s: State): void {
  const q = new URLSearchParams();
  const put = (k: string, v: string | number | null) => v !== null && v !== '' && q.set(k, String(v));
  put('target', s.target);
  put('database', s.database);
  put('range', s.range);
  if (s.range === 'custom') {
    put('from', s.from);
    put('to', s.to);
  }
  put('view', s.view);
  put('refresh', s.refresh);
  put('by', s.by === 'time' ? 'time' : null);
  put('statement', s.statement);
  put('pickFrom', s.pickFrom);
  put('pickTo', s.pickTo);
  put('pickWait', s.pickWait);
  const url = `${location.pathname}?${q.toString()}`;
  if (url !== `${location.pathname}${location.search}`) history.pushState(null, '', url);
}

let state = readState();
let targets: TargetDto[] = [];
let lastUpdated: number | null = null;
let generation = 0;

/** The window parameters of the range: `window`, or `from` and `to`. */
function windowOf(s: State): { window?: string; from?: string; to?: string } {
  if (s.range === 'custom' && s.from) return { from: s.from, to: s.to ?? 'now' };
  return { window: s.range === 'custom' ? '1h' : s.range };
}

const target = () => ({ target: state.target ?? undefined });
const targetDb = () => ({ ...target(), database: state.database ?? undefined });

function update(patch: Partial<State>): void {
  state = { ...state, ...patch };
  writeState(state);
  void render();
}

// ---------------------------------------------------------------------------------------------------------------
// The shell: header (pickers, refresh), tabs, the view.

const app = document.getElementById('app')!;
const updatedEl = h('span', { class: 'updated', 'aria-live': 'off' }, '');

function problemBox(p: Problem): HTMLElement {
  return h(
    'div',
    { class: 'problem', role: 'status' },
    h('strong', null, `${p.title}`),
    h('span', { class: 'code' }, ` ${p.code}${p.status ? ` (${p.status})` : ''}`),
    h('p', null, p.detail),
    p.hint ? h('p', { class: 'hint' }, p.hint) : null,
  );
}

/** A panel: its heading at once, its body when its requests answer (or what they answered instead). */
function panel(id: string, title: string, body: () => Promise<Node>, wide = false): HTMLElement {
  const content = h('div', { class: 'panel-body', 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Loading…'));
  const section = h(
    'section',
    { class: `panel${wide ? ' wide' : ''}`, id: `panel-${id}`, 'aria-labelledby': `h-${id}` },
    h('h2', { id: `h-${id}` }, title),
    content,
  );
  const mine = generation;
  body()
    .then((node) => {
      if (mine !== generation) return;
      content.replaceChildren(node);
    })
    .catch((err: unknown) => {
      if (mine !== generation) return;
      content.replaceChildren(
        problemBox({ status: 0, code: 'PAGE_ERROR', title: 'This panel failed', detail: String(err), hint: null }),
      );
    })
    .finally(() => content.setAttribute('aria-busy', 'false'));
  return section;
}

/** The body of a result: its data rendered, or its problem. */
async function show<T>(result: Promise<Result<T>>, render: (data: T) => Node | Promise<Node>): Promise<Node> {
  const r = await result;
  return r.ok ? render(r.data) : problemBox(r.problem);
}

function header(): HTMLElement {
  const current = targets.find((t) => t.name === state.target) ?? targets[0];
  const targetSelect = h(
    'select',
    {
      id: 'target',
      onchange: (e: Event) =>
        update({ target: (e.target as HTMLSelectElement).value, database: null, statement: null }),
    },
    targets.map((t) =>
      h(
        'option',
        { value: t.name, selected: t.name === current?.name },
        `${t.name}${t.status === 'up' ? '' : ` (${t.status})`}`,
      ),
    ),
  );
  const databases = current?.databases ?? [];
  const dbSelect = h(
    'select',
    { id: 'database', onchange: (e: Event) => update({ database: (e.target as HTMLSelectElement).value }) },
    databases.map((d) => h('option', { value: d, selected: d === (state.database ?? current?.database) }, d)),
  );
  const rangeButtons = h(
    'div',
    { class: 'ranges', role: 'group', 'aria-label': 'Time range' },
    [...RANGES, 'custom'].map((r) =>
      h(
        'button',
        {
          type: 'button',
          class: 'range',
          'data-range': r,
          'aria-pressed': String(state.range === r),
          onclick: () =>
            update(
              r === 'custom'
                ? { range: 'custom', from: state.from ?? '-6h', to: state.to ?? 'now', pickFrom: null, pickTo: null }
                : { range: r, pickFrom: null, pickTo: null, pickWait: null },
            ),
        },
        r,
      ),
    ),
  );
  const custom =
    state.range === 'custom'
      ? h(
          'form',
          {
            class: 'custom',
            onsubmit: (e: Event) => {
              e.preventDefault();
              const f = e.target as HTMLFormElement;
              const value = (n: string) => (f.elements.namedItem(n) as HTMLInputElement).value.trim();
              update({ from: value('from'), to: value('to') || 'now' });
            },
          },
          h(
            'label',
            null,
            'from ',
            h('input', { name: 'from', value: state.from ?? '-6h', size: 24, 'aria-label': 'from (ISO 8601 or -2h)' }),
          ),
          h(
            'label',
            null,
            ' to ',
            h('input', { name: 'to', value: state.to ?? 'now', size: 24, 'aria-label': 'to (ISO 8601 or now)' }),
          ),
          h('button', { type: 'submit' }, 'Apply'),
        )
      : null;
  const refresh = h(
    'select',
    { id: 'refresh', onchange: (e: Event) => update({ refresh: Number((e.target as HTMLSelectElement).value) }) },
    REFRESH.map((r) => h('option', { value: r, selected: r === state.refresh }, r === 0 ? 'off' : `every ${r} s`)),
  );
  return h(
    'header',
    { class: 'top' },
    h('a', { class: 'brand', href: '/' }, 'pgscope'),
    h('label', null, 'Target ', targetSelect),
    h('label', null, 'Database ', dbSelect),
    rangeButtons,
    custom,
    h('label', null, 'Refresh ', refresh),
    updatedEl,
    h('a', { class: 'docs', href: '/docs' }, 'API'),
  );
}

function tabs(): HTMLElement {
  return h(
    'nav',
    { class: 'tabs', 'aria-label': 'Views' },
    VIEWS.map(([id, label]) =>
      h(
        'a',
        {
          href: `?${new URLSearchParams({ ...Object.fromEntries(new URLSearchParams(location.search)), view: id }).toString()}`,
          class: 'tab',
          'aria-current': state.view === id ? 'page' : null,
          'data-view': id,
          onclick: (e: Event) => {
            e.preventDefault();
            update({ view: id, statement: null });
          },
        },
        label,
      ),
    ),
  );
}

async function render(): Promise<void> {
  generation++;
  if (targets.length === 0 || !targets.some((t) => t.name === state.target)) {
    const r = await call(() => listTargets());
    if (!r.ok) {
      // A 401 shows the token form instead (onUnauthorized).
      if (r.problem.status !== 401) app.replaceChildren(h('main', null, problemBox(r.problem)));
      return;
    }
    targets = r.data.targets;
    if (!targets.some((t) => t.name === state.target)) state.target = targets[0]?.name ?? null;
  }
  const current = targets.find((t) => t.name === state.target);
  if (state.database && current && !current.databases.includes(state.database)) state.database = null;
  const main = h('main', { id: 'main' });
  app.replaceChildren(...[header(), tabs(), targetBanner(current), main].filter((n): n is HTMLElement => n !== null));
  const panels = VIEW_PANELS[state.view]();
  main.append(...panels);
  lastUpdated = Date.now();
  tick();
}

function targetBanner(t: TargetDto | undefined): HTMLElement | null {
  if (!t || t.status === 'up' || t.status === 'unknown') return null;
  return h(
    'div',
    { class: 'problem banner', role: 'alert' },
    h('strong', null, `Target ${t.name} is ${t.status === 'auth_failed' ? 'refusing pgscope’s login' : 'down'}`),
    t.lastError ? h('span', { class: 'code' }, ` ${t.lastError.code} at ${time(t.lastError.at)}`) : null,
    h(
      'p',
      null,
      `Last answered ${ago(t.lastContactAt)}. Panels reading it show their own error; history panels still answer from the store.`,
    ),
  );
}

function tick(): void {
  updatedEl.textContent = lastUpdated === null ? '' : `updated ${Math.round((Date.now() - lastUpdated) / 1000)} s ago`;
}
setInterval(tick, 1000);
setInterval(() => {
  if (
    state.refresh > 0 &&
    lastUpdated !== null &&
    Date.now() - lastUpdated >= state.refresh * 1000 &&
    !document.hidden
  ) {
    void render();
  }
}, 1000);

// ---------------------------------------------------------------------------------------------------------------
// Panels.

function checksPanel(): HTMLElement {
  return panel(
    'checks',
    'Checks not ok',
    () =>
      show(
        call(() => listChecks({ query: target() })),
        (d) => {
          const bad = d.checks.filter((c) => c.status !== 'ok');
          if (bad.length === 0) return h('p', { class: 'empty ok' }, `All ${d.checks.length} checks ok.`);
          return h(
            'ul',
            { class: 'checks' },
            bad.map((c) =>
              h(
                'li',
                { class: `check ${c.status}` },
                badge(c.status),
                ' ',
                h('strong', null, c.id),
                c.database ? ` (${c.database})` : '',
                c.value !== null ? ` ${num(c.value, 2)} ${c.unit}` : '',
                c.warning !== null || c.critical !== null
                  ? h('span', { class: 'muted' }, ` warning ${num(c.warning, 2)}, critical ${num(c.critical, 2)}`)
                  : null,
                c.reason ? h('p', { class: 'muted' }, c.reason) : null,
                c.evidence.length
                  ? h(
                      'p',
                      { class: 'evidence' },
                      c.evidence
                        .slice(0, 5)
                        .map((e) => `${e.kind} ${e.name}: ${e.value ?? dash}`)
                        .join(' · '),
                    )
                  : null,
                c.hint ? h('p', { class: 'hint' }, h('code', null, c.hint)) : null,
              ),
            ),
          );
        },
      ),
    true,
  );
}

function loadPanel(): HTMLElement {
  return panel(
    'load',
    'Database load (average active sessions by wait event type)',
    () =>
      show(
        call(() => getLoad({ query: { ...target(), ...windowOf(state), groupBy: 'waitEventType' } })),
        (d) => {
          const xs = d.points.map((p) => Date.parse(p.at) / 1000);
          const keys = d.totals.groups.map((g) => g.key ?? 'CPU');
          const series = keys.map((k, i) => ({
            label: k,
            colour: colourOf(k, i),
            values: d.points.map((p) =>
              p.samples === 0 ? null : (p.groups.find((g) => (g.key ?? 'CPU') === k)?.activeSessions ?? 0),
            ),
          }));
          if (d.points.some((p) => (p.otherActiveSessions ?? 0) > 0)) {
            series.push({
              label: 'other',
              colour: '#999999',
              values: d.points.map((p) => (p.samples === 0 ? null : p.otherActiveSessions)),
            });
          }
          const peak = Math.max(0, ...d.points.map((p) => p.activeSessions ?? 0));
          const lines = [];
          if (d.cpuCount !== null)
            lines.push({
              label: `CPUs (${d.cpuCount})`,
              line: true,
              colour: '#888888',
              values: d.points.map(() => d.cpuCount),
            });
          // max_connections is drawn when it fits the scale; otherwise said beside the chart.
          const connectionsFit = d.maxConnections !== null && d.maxConnections <= Math.max(2 * peak, 4);
          if (connectionsFit)
            lines.push({
              label: `max_connections (${d.maxConnections})`,
              line: true,
              colour: '#e15759',
              values: d.points.map(() => d.maxConnections),
            });
          const gaps = d.meta.window?.gaps ?? [];
          return h(
            'div',
            null,
            d.points.every((p) => p.samples === 0)
              ? h(
                  'p',
                  { class: 'empty' },
                  'No load samples in this range yet (sampled every LOAD_SAMPLE_MS into the history store).',
                )
              : chart({
                  title: `Average active sessions, ${d.stepSeconds} s buckets`,
                  format: (v) => (v === null ? dash : num(v, 2)),
                  xs,
                  series: [...series, ...lines],
                  stacked: true,
                  height: 220,
                  summary: `average ${num(d.totals.activeSessions, 2)} active sessions over the range, peak ${num(peak, 2)}; ${d.totals.groups.map((g) => `${g.key ?? 'CPU'} ${num(g.activeSessions, 2)}`).join(', ')}`,
                  onPick: (i, wait) => {
                    const at = d.points[i].at;
                    update({
                      pickFrom: at,
                      pickTo: new Date(Date.parse(at) + d.stepSeconds * 1000).toISOString(),
                      pickWait: wait,
                      by: 'load',
                    });
                  },
                }),
            h(
              'p',
              { class: 'muted' },
              `Average ${num(d.totals.activeSessions, 2)} active sessions over ${d.totals.samples} samples`,
              d.maxConnections !== null
                ? ` · max_connections ${d.maxConnections}${connectionsFit ? '' : ' (off this scale)'}`
                : '',
              d.cpuCount !== null ? ` · ${d.cpuCount} CPUs` : ' · CPU count unknown (set cpuCount in TARGETS_FILE)',
              gaps.length
                ? ` · ${gaps.length} gap(s) in history, drawn as gaps: ${[...new Set(gaps.map((g) => g.reason))].join(', ')}`
                : '',
              ' · click a band or a moment to list its statements',
            ),
          );
        },
      ),
    true,
  );
}

function topStatementsPanel(limit = 10): HTMLElement {
  const picked = state.pickFrom && state.pickTo;
  const title = picked
    ? `Top statements ${time(state.pickFrom)} – ${time(state.pickTo)}${state.pickWait ? ` waiting on ${state.pickWait}` : ''}`
    : `Top statements over the range, by ${state.by === 'load' ? 'load' : 'execution time'}`;
  const controls = h(
    'div',
    { class: 'controls', role: 'group', 'aria-label': 'Order statements by' },
    h(
      'button',
      { type: 'button', 'aria-pressed': String(state.by === 'load'), onclick: () => update({ by: 'load' }) },
      'by load',
    ),
    h(
      'button',
      {
        type: 'button',
        'aria-pressed': String(state.by === 'time'),
        onclick: () => update({ by: 'time', pickFrom: null, pickTo: null, pickWait: null }),
      },
      'by time',
    ),
    picked
      ? h(
          'button',
          { type: 'button', onclick: () => update({ pickFrom: null, pickTo: null, pickWait: null }) },
          'clear the picked moment',
        )
      : null,
  );
  return panel(
    'statements',
    title,
    async () => {
      const win = picked ? { from: state.pickFrom!, to: state.pickTo! } : windowOf(state);
      const stats = call(() =>
        listStatements({ query: { ...target(), ...win, orderBy: 'totalExecTime', limit: 100 } }),
      );
      let body: Node;
      if (state.by === 'load') {
        const top = await call(() => getLoadTop({ query: { ...target(), ...win, by: 'queryId', limit: 50 } }));
        if (!top.ok) return h('div', null, controls, problemBox(top.problem));
        const s = await stats;
        const byId = new Map(s.ok ? s.data.statements.map((x) => [x.queryId, x]) : []);
        let contributors = top.data.contributors;
        if (state.pickWait) {
          const wait = state.pickWait;
          contributors = contributors
            .map((c) => ({
              ...c,
              activeSessions:
                c.activeSessions *
                c.waits
                  .filter((w) => w.waitEvent === wait || w.waitEvent.startsWith(`${wait}:`))
                  .reduce((n, w) => n + w.share, 0),
            }))
            .filter((c) => c.activeSessions > 0)
            .sort((a, b) => b.activeSessions - a.activeSessions);
        }
        contributors = contributors.slice(0, limit);
        // Only statements the store has in this range have a history to draw (others would be a 404).
        const sparks = await sparklines(contributors.map((c) => c.key).filter((k): k is string => !!k && byId.has(k)));
        body = table(
          [
            'statement',
            ['AAS', 'n'],
            ['share', 'n'],
            'waits',
            ['calls', 'n'],
            ['mean', 'n'],
            ['rows', 'n'],
            ['cache hit', 'n'],
            'trend',
          ],
          contributors.map((c) => {
            const st = c.key ? byId.get(c.key) : undefined;
            return [
              statementLink(c.key, c.query),
              num(c.activeSessions, 2),
              pct(c.share),
              c.waits
                .slice(0, 3)
                .map((w) => `${w.waitEvent} ${pct(w.share, 0)}`)
                .join(', '),
              num(st?.calls ?? c.calls),
              ms(st?.meanExecTimeMs),
              num(st?.rows),
              pct(st?.cacheHitRatio),
              c.key && sparks.get(c.key) ? sparks.get(c.key)! : dash,
            ];
          }),
          'No session was seen active in this range.',
        );
        if (!s.ok) body = h('div', null, body, problemBox(s.problem));
      } else {
        const s = await stats;
        if (!s.ok) return h('div', null, controls, problemBox(s.problem));
        const rows = s.data.statements.slice(0, limit);
        const sparks = await sparklines(rows.map((r) => r.queryId).filter((id): id is string => id !== null));
        body = table(
          [
            'statement',
            ['calls', 'n'],
            ['total', 'n'],
            ['mean', 'n'],
            ['rows', 'n'],
            ['cache hit', 'n'],
            ['share of time', 'n'],
            'trend',
          ],
          rows.map((r) => [
            statementLink(r.queryId, r.query),
            num(r.calls),
            ms(r.totalExecTimeMs),
            ms(r.meanExecTimeMs),
            num(r.rows),
            pct(r.cacheHitRatio),
            pct(r.percentOfTotalTime === null ? null : r.percentOfTotalTime / 100),
            (r.queryId ? sparks.get(r.queryId) : undefined) ?? dash,
          ]),
          'No statement ran in this range.',
        );
      }
      return h('div', null, controls, body);
    },
    true,
  );
}

/** Calls per bucket of each statement over the range (one request each, together). */
async function sparklines(ids: string[]): Promise<Map<string, SVGSVGElement>> {
  const out = new Map<string, SVGSVGElement>();
  await Promise.all(
    ids.map(async (id) => {
      const r = await call(() =>
        getStatementHistory({ path: { queryId: id }, query: { ...target(), ...windowOf(state) } }),
      );
      if (r.ok)
        out.set(
          id,
          sparkline(
            r.data.points.map((p) => (p.coveredSeconds === 0 ? null : p.calls)),
            `calls over the range of ${id}`,
          ),
        );
    }),
  );
  return out;
}

function statementLink(id: string | null, query: string | null): HTMLElement {
  const text = query ?? '(text not shown: QUERY_TEXT=none)';
  if (!id || !/^-?\d+$/.test(id)) return h('code', { class: 'sql', title: text }, text);
  return h(
    'a',
    {
      href: `?${new URLSearchParams({ ...Object.fromEntries(new URLSearchParams(location.search)), view: 'statements', statement: id }).toString()}`,
      class: 'sql',
      title: text,
      onclick: (e: Event) => {
        e.preventDefault();
        update({ view: 'statements', statement: id });
      },
    },
    h('code', null, text),
  );
}

function statementPanel(id: string): HTMLElement {
  return panel(
    'statement',
    `Statement ${id}`,
    () =>
      show(
        call(() => getStatementHistory({ path: { queryId: id }, query: { ...target(), ...windowOf(state) } })),
        (d) => {
          const xs = d.points.map((p) => Date.parse(p.at) / 1000);
          const gap = (p: (typeof d.points)[number], v: number | null) => (p.coveredSeconds === 0 ? null : v);
          return h(
            'div',
            null,
            h('pre', { class: 'sql-block' }, d.query ?? '(text not shown)'),
            h(
              'p',
              { class: 'muted' },
              `databases ${d.databases.join(', ') || dash} · users ${d.users.join(', ') || dash} · ${d.stepSeconds} s buckets`,
            ),
            h(
              'div',
              { class: 'grid' },
              chart({
                title: 'Calls per second',
                format: (v) => (v === null ? dash : `${num(v, 2)}/s`),
                xs,
                series: [{ label: 'calls/s', values: d.points.map((p) => gap(p, p.callsPerSecond)) }],
                summary: `${d.points.reduce((n, p) => n + p.calls, 0)} calls over the range`,
              }),
              chart({
                title: 'Mean execution time',
                format: ms,
                xs,
                series: [{ label: 'mean', values: d.points.map((p) => gap(p, p.meanExecTimeMs)) }],
                summary: 'mean time per bucket',
              }),
              chart({
                title: 'Rows per bucket',
                format: (v) => num(v),
                xs,
                series: [{ label: 'rows', values: d.points.map((p) => gap(p, p.rows)) }],
                summary: 'rows per bucket',
              }),
              chart({
                title: 'Blocks per bucket',
                format: (v) => num(v),
                xs,
                series: [
                  { label: 'shared hit', values: d.points.map((p) => gap(p, p.sharedBlksHit)) },
                  { label: 'shared read', values: d.points.map((p) => gap(p, p.sharedBlksRead)) },
                  { label: 'temp written', values: d.points.map((p) => gap(p, p.tempBlksWritten)) },
                ],
                summary: 'blocks hit, read and temp written per bucket',
              }),
            ),
            h('button', { type: 'button', onclick: () => update({ statement: null }) }, 'Close'),
          );
        },
      ),
    true,
  );
}

/** Sessions now: the lock tree (roots with their waiters nested), long queries, idle in transaction. */
function sessionsPanel(): HTMLElement {
  return panel(
    'sessions',
    'Sessions now',
    () =>
      show(
        call(() => getActivity({ query: target() })),
        (d) => {
          const byPid = new Map(d.sessions.map((s) => [s.pid, s]));
          const roots = d.sessions.filter((s) => s.blocking.length > 0 && s.blockedBy.length === 0);
          const node = (s: SessionDto, seen: Set<number>): HTMLElement =>
            h(
              'li',
              null,
              h('span', { class: 'pid' }, `pid ${s.pid}`),
              ' ',
              badge(s.state ?? 'unknown', 'state'),
              ` ${s.user ?? dash}@${s.database ?? dash} · ${s.applicationName || dash} · ${s.waitEventType ? `waits ${s.waitEventType}:${s.waitEvent}` : 'not waiting'} · in state ${ms(s.stateDurationMs)}`,
              h('code', { class: 'sql' }, s.query ?? ''),
              s.blocking.length
                ? h(
                    'ul',
                    null,
                    s.blocking
                      .map((p) => byPid.get(p))
                      .filter((w): w is SessionDto => !!w && !seen.has(w.pid))
                      .map((w) => node(w, new Set([...seen, w.pid]))),
                  )
                : null,
            );
          const long = d.sessions
            .filter(
              (s) => s.state === 'active' && (s.queryDurationMs ?? 0) >= 1000 && s.backendType === 'client backend',
            )
            .sort((a, b) => (b.queryDurationMs ?? 0) - (a.queryDurationMs ?? 0));
          const idle = d.sessions
            .filter((s) => s.state?.startsWith('idle in transaction'))
            .sort((a, b) => (b.transactionDurationMs ?? 0) - (a.transactionDurationMs ?? 0));
          const rows = (list: SessionDto[], duration: (s: SessionDto) => number | null) =>
            list
              .slice(0, 20)
              .map((s) => [
                String(s.pid),
                s.user ?? dash,
                s.applicationName || dash,
                ms(duration(s)),
                s.waitEventType ? `${s.waitEventType}:${s.waitEvent}` : dash,
                h('code', { class: 'sql' }, s.query ?? ''),
              ]);
          return h(
            'div',
            null,
            h(
              'p',
              { class: 'muted' },
              `${d.summary.totalConnections} of ${d.summary.maxConnections} connections · ${d.summary.blockedSessions} blocked · longest query ${ms(d.summary.longestQueryMs)} · longest idle in transaction ${ms(d.summary.longestIdleInTransactionMs)}`,
            ),
            h('h3', null, 'Lock tree'),
            roots.length
              ? h(
                  'ul',
                  { class: 'lock-tree' },
                  roots.map((r) => node(r, new Set([r.pid]))),
                )
              : h('p', { class: 'empty' }, 'No session blocks another now.'),
            h('h3', null, 'Long-running queries (1 s or more)'),
            table(
              ['pid', 'user', 'application', ['running', 'n'], 'wait', 'query'],
              rows(long, (s) => s.queryDurationMs),
              'No query has run for a second or more.',
            ),
            h('h3', null, 'Idle in transaction'),
            table(
              ['pid', 'user', 'application', ['open for', 'n'], 'wait', 'last query'],
              rows(idle, (s) => s.transactionDurationMs),
              'No session is idle in a transaction.',
            ),
          );
        },
      ),
    true,
  );
}

function lockChainsPanel(): HTMLElement {
  return panel(
    'chains',
    'Lock chains in the range',
    () =>
      show(
        call(() => listLockChains({ query: { ...target(), ...windowOf(state), limit: 50 } })),
        (d) =>
          table(
            ['root pid', 'began', 'ended', ['most waiting', 'n'], ['longest wait', 'n'], 'holds', 'root', 'statement'],
            d.chains.map((c) => [
              String(c.rootPid),
              time(c.began),
              time(c.ended),
              num(c.maxWaiting),
              ms(c.longestWaitMs),
              c.holds ?? dash,
              `${c.user ?? dash} · ${c.application || dash} · ${c.state ?? dash}`,
              h('code', { class: 'sql' }, c.query ?? ''),
            ]),
            'No lock chain was sampled in this range.',
          ),
      ),
    true,
  );
}

function indexesPanels(): HTMLElement[] {
  const result = call(() =>
    listIndexes({ query: { ...targetDb(), ...windowOf(state), bloat: 'estimate', limit: 500 } }),
  );
  const confidence = (b: { confidence: string; reclaimableBytes: number | null } | null) =>
    b ? `${bytes(b.reclaimableBytes)} (${b.confidence})` : dash;
  return [
    panel(
      'unused',
      'Unused indexes (no scan in the range)',
      () =>
        show(result, (d) =>
          h(
            'div',
            null,
            h(
              'p',
              { class: 'muted' },
              `${d.summary.unusedIndexes} unused of ${d.summary.indexes}, ${bytes(d.summary.unusedIndexBytes)}${d.statsAgeSeconds !== null ? ` · statistics ${num(d.statsAgeSeconds / 3600, 1)} h old` : ''}`,
            ),
            table(
              ['index', 'table', ['size', 'n'], ['scans', 'n'], 'last scan', 'drop'],
              d.indexes
                .filter((i) => i.unused && !i.isPrimary && !i.isConstraint)
                .map((i) => [
                  i.index,
                  `${i.schema}.${i.table}`,
                  bytes(i.sizeBytes),
                  num(i.scans),
                  time(i.lastScan),
                  h('code', null, `DROP INDEX CONCURRENTLY ${i.schema}.${i.index};`),
                ]),
              'No unused index in the range.',
            ),
          ),
        ),
      true,
    ),
    panel('duplicates', 'Duplicate, redundant and invalid indexes', () =>
      show(result, (d) =>
        table(
          ['index', 'table', ['size', 'n'], 'problem', 'drop'],
          d.indexes
            .filter((i) => i.duplicateOf || i.redundantWith || !i.isValid)
            .map((i) => [
              i.index,
              `${i.schema}.${i.table}`,
              bytes(i.sizeBytes),
              !i.isValid
                ? badge('invalid', 'critical')
                : i.duplicateOf
                  ? `duplicate of ${i.duplicateOf}`
                  : `redundant with ${i.redundantWith}`,
              h('code', null, `DROP INDEX CONCURRENTLY ${i.schema}.${i.index};`),
            ]),
          'No duplicate, redundant or invalid index.',
        ),
      ),
    ),
    panel(
      'tables',
      'Tables: needing an index, bloat, size and growth',
      () =>
        show(result, (d) =>
          table(
            [
              'table',
              ['size', 'n'],
              ['growth', 'n'],
              ['seq scans', 'n'],
              ['index scan ratio', 'n'],
              'needs index',
              ['bloat (confidence)', 'n'],
              ['dead tuples', 'n'],
            ],
            [...d.tables]
              .sort(
                (a, b) =>
                  Number(b.needsIndex) - Number(a.needsIndex) || (b.totalSizeBytes ?? 0) - (a.totalSizeBytes ?? 0),
              )
              .slice(0, 50)
              .map((t) => [
                `${t.schema}.${t.table}`,
                bytes(t.totalSizeBytes),
                bytes(t.sizeGrowthBytes),
                num(t.seqScans),
                pct(t.indexScanRatio),
                t.needsIndex ? badge('yes', 'warning') : 'no',
                confidence(t.bloat),
                num(t.deadTuples),
              ]),
            'No table.',
          ),
        ),
      true,
    ),
    panel('index-bloat', 'Index bloat', () =>
      show(result, (d) =>
        table(
          ['index', ['size', 'n'], ['reclaimable', 'n'], ['share', 'n'], 'confidence'],
          d.indexes
            .filter((i) => (i.bloat?.reclaimableBytes ?? 0) > 0)
            .sort((a, b) => (b.bloat?.reclaimableBytes ?? 0) - (a.bloat?.reclaimableBytes ?? 0))
            .slice(0, 20)
            .map((i) => [
              `${i.schema}.${i.index}`,
              bytes(i.sizeBytes),
              bytes(i.bloat!.reclaimableBytes),
              pct(i.bloat!.reclaimableRatio),
              `${i.bloat!.confidence}${i.bloat!.reasons.length ? ` (${i.bloat!.reasons.join(', ')})` : ''}`,
            ]),
          'No index has reclaimable space by the estimate.',
        ),
      ),
    ),
    panel('sizes', 'Sizes over the range', () =>
      show(
        call(() => getSizesHistory({ query: { ...targetDb(), ...windowOf(state), limit: 5 } })),
        (d) => {
          const xs = d.databaseSize.map((p) => Date.parse(p.at) / 1000);
          return d.databaseSize.length === 0
            ? h('p', { class: 'empty' }, 'No size snapshot in this range yet (HISTORY_SIZES_INTERVAL).')
            : chart({
                title: `Database ${d.database}`,
                format: bytes,
                xs,
                series: [{ label: 'size', values: d.databaseSize.map((p) => p.bytes) }],
                summary: `from ${bytes(d.databaseSize[0].bytes)} to ${bytes(d.databaseSize.at(-1)!.bytes)}`,
              });
        },
      ),
    ),
  ];
}

/** A row of the cache table: scope, ratio, status, hits, reads. */
function ratioRow(
  scope: string,
  ratio: number | null,
  status: string | null,
  hits: number | null,
  reads: number | null,
) {
  return [scope, pct(ratio, 2), status ? badge(status) : dash, num(hits), num(reads)];
}

function databasePanels(): HTMLElement[] {
  return [
    panel('cache', 'Cache hit ratios over the range', () =>
      show(
        call(() => getCache({ query: { ...targetDb(), ...windowOf(state), limit: 10 } })),
        (d) =>
          h(
            'div',
            null,
            table(
              ['scope', ['hit ratio', 'n'], 'status', ['hits', 'n'], ['reads', 'n']],
              [
                ratioRow(
                  `database ${d.database.name}`,
                  d.database.hitRatio,
                  d.database.status,
                  d.database.blksHit,
                  d.database.blksRead,
                ),
                ratioRow('cluster', d.cluster.hitRatio, d.cluster.status, d.cluster.blksHit, d.cluster.blksRead),
                ratioRow(
                  'tables (heap)',
                  d.tables.heapHitRatio,
                  d.tables.heapStatus,
                  d.tables.heapBlksHit,
                  d.tables.heapBlksRead,
                ),
                ratioRow(
                  'indexes',
                  d.tables.indexHitRatio,
                  d.tables.indexStatus,
                  d.tables.idxBlksHit,
                  d.tables.idxBlksRead,
                ),
              ],
              'No counters.',
            ),
            h('h3', null, 'Tables with the most reads'),
            table(
              ['table', ['heap hit', 'n'], ['index hit', 'n'], ['size', 'n']],
              d.perTable.map((t) => [
                `${t.schema}.${t.table}`,
                pct(t.heapHitRatio, 2),
                pct(t.idxHitRatio, 2),
                bytes(t.sizeBytes),
              ]),
              'No table was read in the range.',
            ),
          ),
      ),
    ),
    panel(
      'counters',
      'Database counters over the range',
      () =>
        show(
          call(() => getDatabaseHistory({ query: { ...targetDb(), ...windowOf(state) } })),
          (d) => {
            const xs = d.points.map((p) => Date.parse(p.at) / 1000);
            const s = (label: string, f: (p: (typeof d.points)[number]) => number | null) => ({
              label,
              values: d.points.map(f),
            });
            const rate = (v: number | null) => (v === null ? dash : `${num(v, 2)}/s`);
            return h(
              'div',
              { class: 'grid' },
              chart({
                title: 'Transactions per second',
                format: rate,
                xs,
                series: [s('commits', (p) => p.commitsPerSecond), s('rollbacks', (p) => p.rollbacksPerSecond)],
                summary: 'commits and rollbacks per second',
              }),
              chart({
                title: 'Blocks read per second',
                format: rate,
                xs,
                series: [s('read', (p) => p.blocksReadPerSecond)],
                summary: 'blocks read from outside shared buffers per second',
              }),
              chart({
                title: 'Temporary bytes per second',
                format: (v) => (v === null ? dash : `${bytes(v)}/s`),
                xs,
                series: [s('temp', (p) => p.tempBytesPerSecond)],
                summary: 'bytes written to temporary files per second',
              }),
              chart({
                title: 'Deadlocks per second',
                format: rate,
                xs,
                series: [s('deadlocks', (p) => p.deadlocksPerSecond)],
                summary: 'deadlocks per second',
              }),
              chart({
                title: 'Cache hit ratio',
                format: (v) => pct(v, 2),
                xs,
                series: [s('hit ratio', (p) => p.hitRatio)],
                summary: 'blocks hit over blocks needed, per bucket',
              }),
            );
          },
        ),
      true,
    ),
  ];
}

function maintenancePanels(): HTMLElement[] {
  const result = call(() => getVacuum({ query: { ...targetDb(), limit: 50 } }));
  return [
    panel('wraparound', 'Transaction ID wraparound', () =>
      show(result, (d) =>
        table(
          ['database', 'xid age (of autovacuum_freeze_max_age)', ['xids left', 'n'], 'multixact age'],
          d.databases.map((db) => [
            db.name,
            bar(db.xid.shareOfFreezeMaxAge, `${num(db.xid.age)} (${pct(db.xid.shareOfFreezeMaxAge, 2)})`),
            num(db.xid.left),
            bar(
              db.multixact.shareOfFreezeMaxAge,
              `${num(db.multixact.age)} (${pct(db.multixact.shareOfFreezeMaxAge, 2)})`,
            ),
          ]),
          'No database.',
        ),
      ),
    ),
    panel('horizon', 'The xmin horizon: what holds back vacuum', () =>
      show(result, (d) =>
        table(
          ['holder', ['age (xids)', 'n'], ['for', 'n'], 'who', 'release with'],
          d.horizon.holders.map((x) => [
            x.kind.replace('_', ' '),
            num(x.age),
            ms(x.ageMs),
            [x.pid ? `pid ${x.pid}` : x.name, x.user, x.application].filter(Boolean).join(' · ') || dash,
            h('code', null, x.hint),
          ]),
          'Nothing holds the horizon back.',
        ),
      ),
    ),
    panel(
      'autovacuum',
      'Autovacuum due',
      () =>
        show(result, (d) =>
          table(
            ['table', 'due', ['urgency', 'n'], 'why', 'last autovacuum'],
            d.tables
              .filter((t) => t.autovacuumDue !== 'none')
              .map((t) => [
                `${t.schema}.${t.table}`,
                badge(t.autovacuumDue, t.autovacuumDue === 'freeze' ? 'critical' : 'warning'),
                num(t.urgency, 2),
                t.reason ?? dash,
                time(t.lastAutovacuum),
              ]),
            'No table is due for autovacuum.',
          ),
        ),
      true,
    ),
    panel('progress', 'Running maintenance', () =>
      show(result, (d) =>
        d.progress.length === 0
          ? h('p', { class: 'empty' }, 'No VACUUM, ANALYZE, CREATE INDEX, CLUSTER, COPY or base backup is running.')
          : h(
              'ul',
              { class: 'progress' },
              d.progress.map((p) =>
                h(
                  'li',
                  null,
                  h('strong', null, `${p.command} ${p.relation ?? ''}`),
                  ` pid ${p.pid} · ${p.phase ?? dash} · ETA ${ms(p.etaMs)} `,
                  bar(p.share, `${pct(p.share, 0)} of ${num(p.total)} ${p.unit}`),
                ),
              ),
            ),
      ),
    ),
  ];
}

function replicationPanels(): HTMLElement[] {
  const result = call(() => getReplication({ query: target() }));
  return [
    panel('standbys', 'Replication', () =>
      show(result, (d) =>
        h(
          'div',
          null,
          h(
            'p',
            { class: 'muted' },
            `${d.role} · timeline ${d.timeline ?? dash} · LSN ${d.currentLsn ?? dash}${d.receiver ? ` · receiving from ${d.receiver.senderHost ?? dash}` : ''}`,
          ),
          table(
            ['standby', 'state', ['replay lag', 'n'], ['replay lag (bytes)', 'n'], ['flush lag', 'n'], 'sync'],
            d.standbys.map((s) => [
              s.applicationName || s.clientAddr || String(s.pid),
              s.state ?? dash,
              ms(s.replayLagMs),
              bytes(s.replayLagBytes),
              ms(s.flushLagMs),
              s.syncState ?? dash,
            ]),
            'No standby is connected.',
          ),
          h(
            'p',
            { class: 'muted' },
            `archiver: ${d.archiver.archiveMode}${d.archiver.failing ? ` · failing since ${time(d.archiver.lastFailedTime)} (${d.archiver.lastFailedWal})` : ''}`,
          ),
        ),
      ),
    ),
    panel('slots', 'Replication slots', () =>
      show(result, (d) =>
        table(
          ['slot', 'type', 'active', ['retained WAL', 'n'], 'WAL status', 'inactive since'],
          d.slots.map((s) => [
            s.name,
            s.type,
            s.active ? 'yes' : badge('inactive', 'warning'),
            bytes(s.retainedBytes),
            s.walStatus ?? dash,
            time(s.inactiveSince),
          ]),
          'No replication slot.',
        ),
      ),
    ),
  ];
}

const VIEW_PANELS: Record<View, () => HTMLElement[]> = {
  overview: () => [checksPanel(), loadPanel(), topStatementsPanel(), sessionsPanel()],
  statements: () =>
    state.statement ? [statementPanel(state.statement), topStatementsPanel(25)] : [topStatementsPanel(25)],
  sessions: () => [sessionsPanel(), lockChainsPanel()],
  indexes: indexesPanels,
  database: databasePanels,
  maintenance: maintenancePanels,
  replication: replicationPanels,
};

// ---------------------------------------------------------------------------------------------------------------
// Authentication: with tokens configured, the page asks for one (kept for this browser session only).

onUnauthorized(() => {
  // Once per token tried (every panel of a view may get its 401).
  const tried = token() ?? '';
  if ((document.getElementById('login') as HTMLFormElement | null)?.dataset.tried === tried) return;
  const form = h(
    'form',
    {
      id: 'login',
      class: 'login',
      'data-tried': tried,
      onsubmit: (e: Event) => {
        e.preventDefault();
        setToken((document.getElementById('token') as HTMLInputElement).value.trim());
        targets = [];
        void render();
      },
    },
    h('h1', null, 'pgscope'),
    h('p', null, token() ? 'That token was not accepted.' : 'This pgscope wants a token (one of API_TOKENS).'),
    h('label', { for: 'token' }, 'Token'),
    h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true }),
    h('button', { type: 'submit' }, 'Sign in'),
    h('p', { class: 'muted' }, 'Kept for this browser session only.'),
  );
  app.replaceChildren(h('main', null, form));
  (document.getElementById('token') as HTMLInputElement).focus();
});

window.addEventListener('popstate', () => {
  state = readState();
  void render();
});

// For the browser tests: what the page asked the API for.
(window as unknown as { pgscopeRequests: string[] }).pgscopeRequests = requested;
void render();
