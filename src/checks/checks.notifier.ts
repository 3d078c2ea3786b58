import { createHmac } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Env } from '../config/env';
import { CheckResult, CheckStatus } from './checks.evaluator';

export interface StatusChange {
  check: CheckResult;
  previous: CheckStatus | null;
  at: Date;
}

const RETRIES_MS = [1000, 2000, 4000, 8000, 16_000];

/** The signature a receiver checks: HMAC-SHA256 of the exact body with ALERT_WEBHOOK_SECRET, hex, "sha256=" first. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * Sends status changes to a webhook (JSON, signed, retried with backoff) and to Alertmanager's v2 API (firing alerts
 * re-sent every evaluation as Alertmanager expects, resolved ones once with endsAt). Never awaited by the evaluation:
 * a receiver that is down delays nothing but its own notifications.
 */
@Injectable()
export class ChecksNotifier {
  private readonly logger = new Logger('Notifier');
  readonly stats = { webhookSent: 0, webhookFailed: 0, webhookRetries: 0, alertmanagerSent: 0, alertmanagerFailed: 0 };
  private pending = new Set<Promise<void>>();
  private stopping = false;

  constructor(@Inject(Env) private readonly env: Env) {}

  /** Every notification still being sent (tests wait for them). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** At shutdown: no more retries; what is in flight gets two seconds. */
  async close(): Promise<void> {
    this.stopping = true;
    await Promise.race([this.settled(), new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  changed(changes: StatusChange[]): void {
    const url = this.env.ALERT_WEBHOOK_URL;
    if (!url || changes.length === 0) return;
    for (const c of changes) {
      const body = JSON.stringify({
        event: 'check_status_changed',
        at: c.at.toISOString(),
        target: c.check.target,
        database: c.check.database,
        check: c.check.id,
        status: c.check.status,
        previous: c.previous,
        value: c.check.value,
        unit: c.check.unit,
        warning: c.check.warning,
        critical: c.check.critical,
        evidence: c.check.evidence,
        hint: c.check.hint,
      });
      this.track(this.post(url, body));
    }
  }

  private async post(url: string, body: string): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'pgscope' };
    if (this.env.ALERT_WEBHOOK_SECRET) headers['x-pgscope-signature'] = signature(this.env.ALERT_WEBHOOK_SECRET, body);
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(5000) });
        if (res.ok) {
          this.stats.webhookSent++;
          return;
        }
        if (res.status < 500 && res.status !== 429)
          throw Object.assign(new Error(`HTTP ${res.status}`), { final: true });
        throw new Error(`HTTP ${res.status}`);
      } catch (err) {
        if ((err as { final?: boolean }).final || attempt >= RETRIES_MS.length || this.stopping) {
          this.stats.webhookFailed++;
          this.logger.warn(`webhook: ${(err as Error).message}; notification dropped`);
          return;
        }
        this.stats.webhookRetries++;
        await new Promise((r) => setTimeout(r, RETRIES_MS[attempt]).unref());
      }
    }
  }

  /**
   * Alertmanager: the firing checks now, and the alerts that ended (back to ok, or to another severity: an alert is
   * its labels, severity among them), sent once with endsAt now so Alertmanager resolves them.
   */
  alertmanager(firing: CheckResult[], ended: { check: CheckResult; severity: string }[]): void {
    const base = this.env.ALERTMANAGER_URL;
    if (!base || firing.length + ended.length === 0) return;
    const now = new Date().toISOString();
    const alert = (c: CheckResult, severity: string, endsAt?: string) => ({
      labels: { alertname: `pgscope_${c.id}`, target: c.target, database: c.database ?? '', severity, check: c.id },
      annotations: {
        summary: `${c.target}${c.database ? `/${c.database}` : ''}: ${c.id} ${c.status} (${c.value ?? 'unknown'} ${c.unit})`,
        ...(c.hint ? { hint: c.hint } : {}),
      },
      ...(endsAt ? { endsAt } : {}),
    });
    const body = JSON.stringify([
      ...firing.map((c) => alert(c, c.status)),
      ...ended.map((e) => alert(e.check, e.severity, now)),
    ]);
    this.track(
      (async () => {
        try {
          const res = await fetch(`${base.replace(/\/$/, '')}/api/v2/alerts`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
            signal: AbortSignal.timeout(5000),
          });
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          this.stats.alertmanagerSent++;
        } catch (err) {
          this.stats.alertmanagerFailed++;
          this.logger.warn(`alertmanager: ${(err as Error).message}`);
        }
      })(),
    );
  }
}
