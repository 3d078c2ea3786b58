import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { Env } from '../config/env';
import { HistoryService } from '../history/history.service';
import { Leases } from '../history/leases';
import { LeaseLostError } from '../history/store';
import { TargetRegistry } from '../targets/registry';
import { Target } from '../targets/target';
import { ChecksConfig, CHECKS, loadChecksConfig } from './checks.config';
import { CheckResult, CheckStatus, ChecksEvaluator } from './checks.evaluator';
import { ChecksNotifier, StatusChange } from './checks.notifier';

/** One check of one target (and database): what it reports, since when, and what it is turning into. */
export interface CheckState {
  reported: CheckResult;
  since: Date;
  candidate?: { status: CheckStatus; count: number };
}

const FIRING: CheckStatus[] = ['warning', 'critical'];

/**
 * Evaluates the checks of every target every `interval` (CHECKS_FILE, default 60 s). A new status is reported once it
 * held for `for` evaluations in a row (default 2: one flap is not an alert); each reported change is an event (kept
 * in the history store when it is on) and a notification. The first evaluation of a check sets its
 * status without notifying (pgscope starting is not news).
 */
@Injectable()
export class ChecksRunner implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Checks');
  readonly config: ChecksConfig;
  private readonly states = new Map<string, CheckState>();
  private readonly others = new Map<string, { at: number; states: CheckState[] }>();
  private timer?: NodeJS.Timeout;
  private first?: NodeJS.Timeout;
  private stopping = false;
  private current?: Promise<void>;

  constructor(
    @Inject(Env) env: Env,
    private readonly targets: TargetRegistry,
    private readonly evaluator: ChecksEvaluator,
    private readonly notifier: ChecksNotifier,
    private readonly history: HistoryService,
    private readonly leases: Leases,
  ) {
    this.config = loadChecksConfig(env);
    // Instances sharing a store: the holder of a target's lease evaluates and notifies; one taking a target over
    // starts afresh (its first evaluation sets the status without notifying: the last holder did).
    leases.onChange((target) => {
      for (const [key, state] of this.states) if (state.reported.target === target) this.states.delete(key);
    });
  }

  start(): void {
    if (this.timer || this.stopping) return;
    this.timer = setInterval(() => void this.evaluateNow().catch(() => undefined), this.config.intervalMs);
    this.timer.unref();
    // The first evaluation a little after the start, not during it (GET /checks evaluates at once if none ran).
    this.first = setTimeout(
      () => void this.evaluateNow().catch(() => undefined),
      Math.min(this.config.intervalMs, 10_000),
    );
    this.first.unref();
  }

  /** No evaluation starts once shutdown begins; one running is let finish (bounded) before the pools close. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    clearTimeout(this.first);
    this.timer = undefined;
    if (this.current) await Promise.race([this.current, new Promise((r) => setTimeout(r, 5000).unref())]);
    await this.notifier.close();
  }

  list(): CheckState[] {
    return [...this.states.values()];
  }

  /** One evaluation of every target (the timer's; tests call it). Never two at once. */
  async evaluateNow(): Promise<void> {
    if (this.current) return this.current;
    if (this.stopping) return;
    this.current = this.evaluate().finally(() => {
      this.current = undefined;
    });
    return this.current;
  }

  private async evaluate(): Promise<void> {
    {
      const changes: StatusChange[] = [];
      const ended: { check: CheckResult; severity: string }[] = [];
      for (const target of this.targets.list()) {
        if (!this.leases.collects(target.name)) continue;
        const results = await this.results(target);
        const now = new Date();
        for (const r of results) {
          const key = `${r.target}\u0000${r.id}\u0000${r.database ?? ''}`;
          const state = this.states.get(key);
          if (!state) {
            this.states.set(key, { reported: r, since: now });
            continue;
          }
          if (r.status === state.reported.status) {
            state.reported = r;
            state.candidate = undefined;
            continue;
          }
          const candidate =
            state.candidate?.status === r.status
              ? { status: r.status, count: state.candidate.count + 1 }
              : { status: r.status, count: 1 };
          if (candidate.count < this.config.for) {
            state.candidate = candidate;
            // The reported status stands; its figures are the latest.
            state.reported = { ...r, status: state.reported.status, hint: state.reported.hint };
            continue;
          }
          const previous = state.reported.status;
          state.reported = r;
          state.since = now;
          state.candidate = undefined;
          changes.push({ check: r, previous, at: now });
          if (FIRING.includes(previous)) ended.push({ check: r, severity: previous });
        }
      }
      this.notifier.changed(changes);
      const firing = [...this.states.values()].map((s) => s.reported).filter((r) => FIRING.includes(r.status));
      this.notifier.alertmanager(firing, ended);
      if (changes.length > 0)
        await this.store(changes).catch((err) => this.logger.warn(`events not stored: ${(err as Error).message}`));
    }
  }

  /** A target's checks now; a target that does not answer has every check unknown, with the reason. */
  private async results(target: Target): Promise<CheckResult[]> {
    const settings = this.config.targets[target.name] ?? this.config.checks;
    let results: CheckResult[];
    try {
      results = await this.evaluator.evaluate(target, settings);
    } catch (err) {
      // The target did not answer: every check of it is unknown, with the reason.
      const reason = `the target did not answer (${(err as { code?: string }).code ?? (err as Error).message})`;
      results = [...this.states.values()]
        .filter((s) => s.reported.target === target.name)
        .map((s) => ({ ...s.reported, status: 'unknown' as const, value: null, reason, hint: null, evidence: [] }));
      if (results.length === 0) {
        results = CHECKS.map((c) => ({
          id: c.id,
          target: target.name,
          database: null,
          status: 'unknown' as const,
          value: null,
          unit: c.unit,
          warning: settings[c.id].warning,
          critical: settings[c.id].critical,
          evidence: [],
          hint: null,
          reason,
        }));
      }
    }
    return results;
  }

  /**
   * Every target's checks for GET /checks: those this instance evaluates (the first evaluation now if none ran), and
   * those another instance sharing the store collects, evaluated here on demand at most once per interval (their
   * damping and notifications are the collector's).
   */
  async snapshot(): Promise<CheckState[]> {
    const mine = this.targets.list().filter((t) => this.leases.collects(t.name));
    if (mine.length > 0 && this.states.size === 0) await this.evaluateNow();
    const states = this.list();
    for (const target of this.targets.list()) {
      if (this.leases.collects(target.name)) continue;
      let other = this.others.get(target.name);
      if (!other || Date.now() - other.at > this.config.intervalMs) {
        const now = new Date();
        other = { at: Date.now(), states: (await this.results(target)).map((r) => ({ reported: r, since: now })) };
        this.others.set(target.name, other);
      }
      states.push(...other.states);
    }
    return states;
  }

  private async store(changes: StatusChange[]): Promise<void> {
    const store = this.history.storeIfOn;
    if (!store) return;
    for (const c of changes) {
      const targetId = await store.targetId(c.check.target);
      await store
        .write(
          (tx) => tx`insert into check_events (at, target_id, database, check_id, status, previous, value)
                     values (${c.at}, ${targetId}, ${c.check.database}, ${c.check.id}, ${c.check.status},
                             ${c.previous}, ${c.check.value})`,
          c.check.target,
        )
        .catch((err) => {
          // Taken over meanwhile: the new holder reports from now on.
          if (!(err instanceof LeaseLostError)) throw err;
        });
    }
  }
}
