import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ChecksRunner } from '../../checks/checks.runner';
import { HistoryService } from '../../history/history.service';
import { spanMs } from '../../history/window';
import { ApiMonitoringResponses } from '../../http/api-docs';
import { TargetRegistry } from '../../targets/registry';
import { API_BASE } from '../api-base';
import { buildMetaOf } from './checks.meta';
import { CheckEventsResponseDto, ChecksEventsQueryDto, ChecksQueryDto, ChecksResponseDto } from './checks.dto';

const ORDER = { critical: 0, warning: 1, unknown: 2, ok: 3, disabled: 4 } as const;

@ApiTags('checks')
@ApiBearerAuth()
@Controller(API_BASE)
export class ChecksController {
  constructor(
    private readonly runner: ChecksRunner,
    private readonly targets: TargetRegistry,
    private readonly history: HistoryService,
  ) {}

  @Get('checks')
  @ApiOperation({
    operationId: 'listChecks',
    summary: 'What is wrong now: every check of every target with its status, figure, evidence and fix',
    description:
      'Each check (ids and default thresholds in the README; CHECKS_FILE overrides them, per target too) with the ' +
      'status it reports (a change is reported once it held for `for` evaluations), the figure and thresholds that ' +
      'applied, the objects behind the verdict, since when, and the statement or setting that fixes it (never run ' +
      'by pgscope). `unknown` says why (a privilege, an extension, history off). Evaluated every `interval` by the ' +
      'service, which notifies ALERT_WEBHOOK_URL and ALERTMANAGER_URL of every change. Critical first.',
  })
  @ApiMonitoringResponses(ChecksResponseDto)
  async list(@Query() query: ChecksQueryDto): Promise<ChecksResponseDto> {
    const started = performance.now();
    if (query.target !== undefined) this.targets.get(query.target);
    const checks = (await this.runner.snapshot())
      .filter(
        (s) =>
          (query.target === undefined || s.reported.target === query.target) &&
          (query.status === undefined || s.reported.status === query.status) &&
          (query.id === undefined || s.reported.id === query.id),
      )
      .sort(
        (a, b) =>
          ORDER[a.reported.status] - ORDER[b.reported.status] ||
          a.reported.target.localeCompare(b.reported.target) ||
          a.reported.id.localeCompare(b.reported.id) ||
          (a.reported.database ?? '').localeCompare(b.reported.database ?? ''),
      )
      .map((s) => ({ ...s.reported, since: s.since.toISOString() }));
    return {
      meta: buildMetaOf(this.targets, started),
      intervalSeconds: this.runner.config.intervalMs / 1000,
      for: this.runner.config.for,
      checks,
    };
  }

  @Get('checks/events')
  @ApiOperation({
    operationId: 'listCheckEvents',
    summary: 'The history of check status changes over a window',
    description:
      'Every reported change of a check’s status (after damping), newest first, from the history store (409 ' +
      'HISTORY_DISABLED with HISTORY=off).',
  })
  @ApiMonitoringResponses(CheckEventsResponseDto, { windowed: true })
  async events(@Query() query: ChecksEventsQueryDto): Promise<CheckEventsResponseDto> {
    const started = performance.now();
    const target = this.targets.get(query.target);
    const now = new Date();
    const window = this.history.window(query) ?? { from: new Date(now.getTime() - (spanMs('24h') as number)), to: now };
    const store = this.history.store;
    const targetId = await store.targetId(target.name);
    const rows = await store.read(
      (sql) => sql<
        {
          at: Date;
          database: string | null;
          id: string;
          status: string;
          previous: string | null;
          value: number | null;
        }[]
      >`
        select at, database, check_id as id, status, previous, value from check_events
         where target_id = ${targetId} and at >= ${window.from} and at <= ${window.to}
         order by at desc limit 1000`,
    );
    const meta = buildMetaOf(this.targets, started);
    meta.window = {
      from: window.from.toISOString(),
      to: window.to.toISOString(),
      coveredSeconds: (window.to.getTime() - window.from.getTime()) / 1000,
      gaps: [],
      possiblyIncomplete: false,
      evictions: 0,
    };
    return {
      meta,
      events: rows.map((r) => ({ ...r, at: r.at.toISOString(), target: target.name })),
    };
  }
}
