import { Controller, Get, Header, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { MetricsService } from './metrics.service';

/**
 * GET /metrics for Prometheus: OpenMetrics text when the scraper asks for it (Accept: application/openmetrics-text,
 * as Prometheus does), else the Prometheus text format 0.0.4. Outside the OpenAPI document (it is not JSON); the
 * same bearer tokens as /api protect it, or METRICS_TOKENS.
 */
@ApiExcludeController()
@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get('metrics')
  @Header('cache-control', 'no-store')
  async get(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const openMetrics = /application\/openmetrics-text/i.test(String(request.headers.accept ?? ''));
    const { contentType, body } = await this.metrics.scrape(openMetrics);
    await reply.header('content-type', contentType).send(body);
  }
}
