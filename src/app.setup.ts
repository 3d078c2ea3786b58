import { LoggerService, ValidationError, ValidationPipe } from '@nestjs/common';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module';
import { registerBearerAuth } from './common/auth';
import { registerRateLimit, registerSecurityHeaders } from './common/http-hardening';
import { InvalidParameterError } from './common/errors';
import { ProblemFilter } from './common/problem.filter';
import { RejectNulPipe } from './common/query';
import { ResponseCache } from './common/response-cache';
import { apiTokens, Env } from './config/env';

export const API_TITLE = 'pgscope';
export const API_VERSION = '0.1.0';

/** Creates the Fastify-based application, configured exactly as main.ts, the tests and the exporter see it. */
export async function createApp(
  env: Env,
  options: { logger?: LoggerService | false } = {},
): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(env),
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
  // Order matters: the rate limit counts every request, then the token check, then the cache may answer.
  await registerSecurityHeaders(app);
  await registerRateLimit(app, env.RATE_LIMIT_PER_MINUTE);
  registerBearerAuth(fastify, apiTokens(env));
  new ResponseCache(env.CACHE_TTL_MS).register(fastify);
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
  return document;
}

export function buildOpenApiDocument(app: NestFastifyApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle(API_TITLE)
    .setVersion(API_VERSION)
    .setDescription(
      'What a PostgreSQL server is doing: sessions and lock chains, the costliest statements, index and table ' +
        'usage, bloat and cache hit rates, on PostgreSQL 13 to 18 with one schema. A field a server version lacks ' +
        'is null, never missing. Every error is application/problem+json (RFC 9457) with a stable `code`.',
    )
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'A token from API_TOKENS / API_TOKENS_FILE' })
    .build();
  return sortDocument(SwaggerModule.createDocument(app, config));
}

/** Byte-stable output: paths and schemas in name order (properties keep their declared order). */
function sortDocument(doc: OpenAPIObject): OpenAPIObject {
  const sortKeys = <T>(obj: Record<string, T> | undefined): Record<string, T> | undefined =>
    obj && Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return {
    ...doc,
    paths: sortKeys(doc.paths) ?? {},
    components: doc.components && { ...doc.components, schemas: sortKeys(doc.components.schemas) },
  };
}
