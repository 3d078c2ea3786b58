import { LoadAggregator } from './load.aggregator';
import { Sample, SampledChain, SampledSession } from './load.sql';

const session = (over: Partial<SampledSession> = {}): SampledSession => ({
  kind: 'c',
  parallel: false,
  waitType: 'CPU',
  waitEvent: 'CPU',
  queryId: '42',
  query: null,
  database: 'app',
  user: 'app',
  application: 'web',
  ...over,
});

const chain = (over: Partial<SampledChain> = {}): SampledChain => ({
  rootPid: 7,
  rootBackendStart: new Date('2026-12-01T00:00:00Z'),
  xactStart: new Date('2026-12-01T00:00:01Z'),
  user: 'app',
  application: 'batch',
  state: 'idle in transaction',
  queryId: '9',
  query: "update t set v = 'x'",
  waiting: 1,
  longestWaitMs: 100,
  holds: 'relation t (AccessExclusiveLock)',
  ...over,
});

const at = (s: number) => new Date(Date.UTC(2026, 11, 1, 3, 0, 0) + s * 1000);
const sample = (s: number, sessions: SampledSession[], chains: SampledChain[] = []): Sample => ({
  at: at(s),
  maxConnections: 100,
  sessions,
  chains,
});

describe('LoadAggregator', () => {
  it('counts session-samples per combination of dimensions, and hands a bucket back once a later one starts', () => {
    const agg = new LoadAggregator(10_000);
    expect(agg.add(sample(0, [session(), session(), session({ waitType: 'Lock', waitEvent: 'relation' })]))).toEqual(
      [],
    );
    expect(agg.add(sample(9.9, [session()]))).toEqual([]);
    const [bucket] = agg.add(sample(10, []));
    expect(bucket).toMatchObject({ at: at(0), samples: 2, skipped: 0, maxConnections: 100 });
    expect(bucket.rows).toEqual([
      expect.objectContaining({ waitType: 'CPU', queryId: '42', sessions: 3 }),
      expect.objectContaining({ waitType: 'Lock', waitEvent: 'relation', sessions: 1 }),
    ]);
    // The bucket of the last sample is written at shutdown, with its one sample and no sessions.
    expect(agg.flush()).toEqual([expect.objectContaining({ at: at(10), samples: 1, rows: [] })]);
    expect(agg.flush()).toEqual([]);
  });

  it('aligns buckets to the epoch, and counts a skipped sample where it was due', () => {
    const agg = new LoadAggregator(10_000);
    agg.add(sample(3, [session()]));
    agg.skip(at(5));
    const [bucket] = agg.skip(at(12));
    expect(bucket).toMatchObject({ at: at(0), samples: 1, skipped: 1 });
    // A bucket of skips only is still handed back: it says sampling was due and could not run.
    expect(agg.add(sample(21, []))).toEqual([
      expect.objectContaining({ at: at(10), samples: 0, skipped: 1, maxConnections: null }),
    ]);
  });

  it('puts a parallel worker apart under its leader’s statement, and keys a statement without queryId by its text', () => {
    const agg = new LoadAggregator(10_000, (t) => (t === null ? null : t.replace(/'[^']*'/g, '?')));
    agg.add(
      sample(0, [
        session({ parallel: true }),
        session({ queryId: null, query: "select * from t where a = 'secret'" }),
        session({ queryId: '42', query: 'ignored when there is a queryId' }),
      ]),
    );
    const [bucket] = agg.flush();
    expect(bucket.rows.map((r) => [r.kind, r.queryId, r.query, r.sessions])).toEqual([
      ['p', '42', null, 1],
      ['c', null, 'select * from t where a = ?', 1],
      ['c', '42', null, 1],
    ]);
  });

  it('records a lock chain once per bucket: first and last seen, most waiters, longest wait, text redacted', () => {
    const agg = new LoadAggregator(10_000, (t) => (t === null ? null : t.replace(/'[^']*'/g, '?')));
    agg.add(sample(1, [], [chain()]));
    agg.add(sample(2, [], [chain({ waiting: 3, longestWaitMs: 1100 })]));
    agg.add(sample(3, [], [chain({ waiting: 2, longestWaitMs: 2100, state: 'active' })]));
    // Another session with the same pid (the first ended, the pid was reused) is another chain.
    agg.add(sample(4, [], [chain({ rootBackendStart: new Date('2026-12-01T02:00:00Z') })]));
    const [bucket] = agg.flush();
    expect(bucket.chains).toHaveLength(2);
    expect(bucket.chains[0]).toMatchObject({
      firstSeen: at(1),
      lastSeen: at(3),
      waiting: 3,
      longestWaitMs: 2100,
      state: 'active',
      query: 'update t set v = ?',
    });
    expect(bucket.chains[1]).toMatchObject({ firstSeen: at(4), lastSeen: at(4) });
  });
});
