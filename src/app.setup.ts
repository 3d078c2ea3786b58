import { LoggerService, ValidationError, ValidationPipe } from '@nestjs/common';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module';
import { registerBearerAuth } from './http/auth';
import { registerDashboard } from './http/dashboard';
import { registerRateLimit, registerSecurityHeaders } from './http/http-hardening';
import { InvalidParameterError } from './common/errors';
import { ProblemFilter } from './http/problem.filter';
import { RejectNulPipe } from './http/query';
import { ResponseCache } from './http/response-cache';
import { RouteTable } from './http/routes';
import { apiTokens, Env, metricsTokens } from './config/env';
import { loadTargets, TargetConfig } from './targets/targets.config';
import { buildOpenApiDocument } from './openapi/document';

/** Creates the Fastify-based application, configured exactly as main.ts, the tests and the exporter see it. */
export async function createApp(
  env: Env,
  options: { logger?: LoggerService | false; targets?: TargetConfig[] } = {},
): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(env, options.targets ?? loadTargets(env)),
    new FastifyAdapter({
      bodyLimit: 16 * 1024,
      // A client gets this long to send its request (headers and body): slow-sending clients cannot hold sockets.
      requestTimeout: 10_000,
      routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    }),
    { logger: options.logger ?? false, abortOnError: false },
  );
  configureApp(app);
  const fastify = app.getHttpAdapter().getInstance();
  const routes = new RouteTable();
  // Order matters: the rate limit counts every request, then the token check, then another method on a known path
  // gets its 405, then the cache may answer.
  await registerSecurityHeaders(app);
  await registerRateLimit(app, env.RATE_LIMIT_PER_MINUTE, routes);
  registerBearerAuth(fastify, apiTokens(env), routes, metricsTokens(env));
  routes.register(fastify);
  new ResponseCache(env.CACHE_TTL_MS, routes).register(fastify);
  await registerDashboard(fastify);
  return app;
}

/** Pipes, the error filter and Swagger: the one setup shared by main.ts, the e2e tests and the OpenAPI exporter. */
export function configureApp(app: NestFastifyApplication): OpenAPIObject {
  app.useGlobalPipes(
    new RejectNulPipe(),
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      transformOptions: { enableImplicitConversion: false },
      stopAtFirstError: true,
      exceptionFactory: (errors: ValidationError[]) =>
        new InvalidParameterError(
          errors.map((e) => ({
            name: e.property,
            reason: e.constraints?.whitelistValidation
              ? 'is not a parameter of this operation'
              : e.constraints
                ? Object.values(e.constraints)[0]
                : 'is invalid',
          })),
        ),
    }),
  );
  app.useGlobalFilters(new ProblemFilter(app.get(HttpAdapterHost)));
  const document = buildOpenApiDocument(app);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json', yamlDocumentUrl: 'docs-yaml' });
  documents.set(app, document);
  return document;
}

const documents = new WeakMap<NestFastifyApplication, OpenAPIObject>();

/** The document configureApp built (once) for this application: what /docs-json serves. */
export function documentOf(app: NestFastifyApplication): OpenAPIObject {
  const document = documents.get(app);
  if (!document) throw new Error('configureApp has not run on this application');
  return document;
}
