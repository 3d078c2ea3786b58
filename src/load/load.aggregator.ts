import { Sample, SampledChain, SampledSession } from './load.sql';

/** The dimensions a bucket keeps of a session, and how many session-samples had them. */
export interface LoadRow {
  kind: 'c' | 'p' | 'v' | 'i';
  waitType: string | null;
  waitEvent: string | null;
  queryId: string | null;
  query: string | null;
  database: string | null;
  user: string | null;
  application: string | null;
  sessions: number;
}

/** A lock chain over a bucket: seen from firstSeen to lastSeen, its largest count of waiters and longest wait. */
export interface ChainRow extends SampledChain {
  firstSeen: Date;
  lastSeen: Date;
}

export interface LoadBucket {
  /** Start of the bucket, on the watched server's clock. */
  at: Date;
  samples: number;
  skipped: number;
  /** max_connections at the bucket's last sample (null: none taken, only skips). */
  maxConnections: number | null;
  rows: LoadRow[];
  chains: ChainRow[];
}

interface Open {
  at: number;
  samples: number;
  skipped: number;
  maxConnections: number | null;
  rows: Map<string, LoadRow>;
  chains: Map<string, ChainRow>;
}

const keyOf = (r: Omit<LoadRow, 'sessions'>) =>
  [r.kind, r.waitType, r.waitEvent, r.queryId, r.query, r.database, r.user, r.application].join('\u0000');

/**
 * Samples into buckets of `bucketMs` (aligned to the epoch): per combination of dimensions the number of
 * session-samples, per lock chain (root pid and its backend start) one row. A bucket is handed back once a sample of
 * a later bucket arrives (or at flush): the store sees one write per bucket, never one per sample. Pure.
 */
export class LoadAggregator {
  private open?: Open;

  constructor(
    private readonly bucketMs: number,
    /** How a text stands for a statement where there is no queryId (13): literals redacted, or none. */
    private readonly textOf: (text: string | null) => string | null = (t) => t,
  ) {}

  /** Adds a sample; returns the buckets it completes. */
  add(sample: Sample): LoadBucket[] {
    const done = this.roll(sample.at);
    const open = this.current(sample.at);
    open.samples++;
    open.maxConnections = sample.maxConnections;
    for (const s of sample.sessions) this.count(open, s);
    for (const c of sample.chains) {
      const key = `${c.rootPid}\u0000${c.rootBackendStart?.toISOString() ?? ''}`;
      const known = open.chains.get(key);
      if (!known) {
        open.chains.set(key, { ...c, query: this.textOf(c.query), firstSeen: sample.at, lastSeen: sample.at });
      } else {
        known.lastSeen = sample.at;
        known.waiting = Math.max(known.waiting, c.waiting);
        known.longestWaitMs = Math.max(known.longestWaitMs ?? 0, c.longestWaitMs ?? 0);
        known.holds = c.holds ?? known.holds;
        known.state = c.state;
      }
    }
    return done;
  }

  /** A sample that was due and not taken (the previous one still ran): counted in its bucket. */
  skip(at: Date): LoadBucket[] {
    const done = this.roll(at);
    this.current(at).skipped++;
    return done;
  }

  /** Everything open, as it is (at shutdown). */
  flush(): LoadBucket[] {
    const open = this.open;
    this.open = undefined;
    return open && open.samples > 0 ? [this.close(open)] : [];
  }

  private count(open: Open, s: SampledSession): void {
    const row: Omit<LoadRow, 'sessions'> = {
      kind: s.parallel ? 'p' : s.kind,
      waitType: s.waitType,
      waitEvent: s.waitEvent,
      queryId: s.queryId,
      query: s.queryId === null ? this.textOf(s.query) : null,
      database: s.database,
      user: s.user,
      application: s.application,
    };
    const key = keyOf(row);
    const known = open.rows.get(key);
    if (known) known.sessions++;
    else open.rows.set(key, { ...row, sessions: 1 });
  }

  private roll(at: Date): LoadBucket[] {
    const start = Math.floor(at.getTime() / this.bucketMs) * this.bucketMs;
    if (this.open && this.open.at !== start) {
      const open = this.open;
      this.open = undefined;
      return open.samples > 0 || open.skipped > 0 ? [this.close(open)] : [];
    }
    return [];
  }

  private current(at: Date): Open {
    const start = Math.floor(at.getTime() / this.bucketMs) * this.bucketMs;
    this.open ??= { at: start, samples: 0, skipped: 0, maxConnections: null, rows: new Map(), chains: new Map() };
    return this.open;
  }

  private close(open: Open): LoadBucket {
    return {
      at: new Date(open.at),
      samples: open.samples,
      skipped: open.skipped,
      maxConnections: open.maxConnections,
      rows: [...open.rows.values()],
      chains: [...open.chains.values()],
    };
  }
}
