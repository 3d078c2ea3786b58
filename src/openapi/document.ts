import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import fs from 'node:fs';
import { EXAMPLES_FILE } from './files';

const API_TITLE = 'pgscope';
const API_VERSION = '0.1.0';

/** Real answers recorded from the embedded demo (scripts/record-examples.js), per operationId. */
const RECORDED_EXAMPLES = JSON.parse(fs.readFileSync(EXAMPLES_FILE, 'utf8')) as Record<string, unknown>;

/**
 * The OpenAPI document of the application, as @nestjs/swagger generates it from the code and then normalised,
 * given the recorded examples and sorted: built once per application (configureApp) and checked in as
 * openapi/openapi.json.
 */
export function buildOpenApiDocument(app: NestFastifyApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle(API_TITLE)
    .setVersion(API_VERSION)
    .setDescription(
      'What a PostgreSQL server is doing: sessions and lock chains, the costliest statements, index and table ' +
        'usage, bloat and cache hit rates, on PostgreSQL 13 to 18 with one schema. A field a server version lacks ' +
        'is null, never missing. Every error is application/problem+json (RFC 9457) with a stable `code`.',
    )
    .addTag('overview', 'The server: version, uptime, size, connections, what pgscope can read and the key settings')
    .addTag('activity', 'Sessions from pg_stat_activity: what runs, what waits, and who blocks whom')
    .addTag('statements', 'The costliest statements from pg_stat_statements')
    .addTag('indexes', 'Index and table usage: unused, duplicate, invalid and missing indexes, table and index bloat')
    .addTag('cache', 'Buffer cache hit ratios of the database, tables and indexes, and what occupies shared_buffers')
    .addTag(
      'history',
      'The history store: snapshots of the counters as deltas, time series, and what is stored (windows of the other ' +
        'families take `window` or `from` and `to`)',
    )
    .addTag('load', 'Database load: sampled active sessions by wait, statement and client over time, and lock chains')
    .addTag('replication', 'Replication: standbys and their lag, slots, the archiver; and where the server’s I/O goes')
    .addTag('checks', 'Checks: what is wrong now, with evidence and the fix; the history of status changes')
    .addTag(
      'maintenance',
      'Vacuum and wraparound, the xmin horizon and who holds it, long operations in progress, sequences',
    )
    .addTag('targets', 'The watched servers (targets) and their databases: status, discovery, capabilities')
    .addTag('health', 'Liveness and readiness probes; open without a token, they reveal nothing about the database')
    .setLicense('MIT', 'https://opensource.org/licenses/MIT')
    .addServer('/', 'This pgscope (the document is served by the instance it describes)')
    .addBearerAuth({
      type: 'http',
      scheme: 'bearer',
      description:
        'A token from API_TOKENS / API_TOKENS_FILE. Enforced only when the server is configured with tokens; ' +
        'without them pgscope serves on a loopback address only (or, with ALLOW_UNAUTHENTICATED=true, anywhere) ' +
        'and the /api operations need no token.',
    })
    .setOpenAPIVersion('3.1.0')
    .build();
  return sortDocument(applyRecordedExamples(normalizeDocument(SwaggerModule.createDocument(app, config))));
}

type SchemaNode = Record<string, unknown>;

/**
 * What @nestjs/swagger leaves for a strict validator or a linter to trip on, fixed the same way everywhere. The
 * document is OpenAPI 3.1, whose schemas are JSON Schema 2020-12, so a null is said the way JSON Schema says it:
 * - `nullable: true` beside a `type` becomes `type: [type, 'null']` (and null joins an `enum`);
 * - `nullable: true` beside `allOf: [$ref]` (a nullable object or named enum) becomes `anyOf: [$ref, {type: null}]`:
 *   under OpenAPI 3.0.3 `nullable` does not reach into `allOf`, so a strict validator rejected pgscope's nulls;
 * - a property that points at a named enum is `allOf: [$ref]` (so it can carry a description): it gets the enum's
 *   `type` beside it;
 * - an array-of-enum parameter loses its example: it gets the enum's first value;
 * - an operation without a security requirement is public: it says so (`security: []`).
 */
function normalizeDocument(doc: OpenAPIObject): OpenAPIObject {
  const schemas = (doc.components?.schemas ?? {}) as Record<string, SchemaNode>;
  const target = (ref: unknown): SchemaNode | undefined =>
    typeof ref === 'string' ? schemas[ref.replace('#/components/schemas/', '')] : undefined;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    const schema = node as SchemaNode;
    const allOf = schema.allOf as SchemaNode[] | undefined;
    const ref = allOf?.length === 1 ? allOf[0].$ref : schema.$ref;
    if (schema.nullable === true) {
      delete schema.nullable;
      if (typeof ref === 'string') {
        delete schema.allOf;
        delete schema.$ref;
        delete schema.type;
        schema.anyOf = [{ $ref: ref }, { type: 'null' }];
      } else if (typeof schema.type === 'string') {
        schema.type = [schema.type, 'null'];
        if (Array.isArray(schema.enum) && !schema.enum.includes(null)) schema.enum = [...schema.enum, null];
      }
    } else if (allOf?.length === 1 && schema.type === undefined && target(ref)?.type !== undefined) {
      schema.type = target(ref)?.type;
    }
    Object.values(schema).forEach(visit);
  };
  visit(doc.components);
  for (const item of Object.values(doc.paths)) {
    for (const operation of Object.values(item) as SchemaNode[]) {
      if (!operation || typeof operation !== 'object' || !('responses' in operation)) continue;
      operation.security ??= [];
      for (const parameter of (operation.parameters ?? []) as SchemaNode[]) {
        const schema = parameter.schema as SchemaNode | undefined;
        const items = schema?.items as SchemaNode | undefined;
        const values = target(items?.$ref)?.enum as unknown[] | undefined;
        if (parameter.example === undefined && values?.length) parameter.example = [values[0]];
        const enumValues = target(schema?.$ref)?.enum as unknown[] | undefined;
        if (parameter.example === undefined && enumValues?.length) parameter.example = schema?.default ?? enumValues[0];
      }
      visit(operation);
    }
  }
  return doc;
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

/**
 * Real answers recorded from the embedded demo (scripts/record-examples.js) become each operation's response
 * example, and give every field without a hand-written example the first non-null value it had there.
 */
function applyRecordedExamples(doc: OpenAPIObject): OpenAPIObject {
  const schemas = (doc.components?.schemas ?? {}) as Record<string, SchemaNode>;
  const seen = new Map<string, Map<string, unknown[]>>();
  const refName = (schema: SchemaNode | undefined): string | undefined => {
    const ref =
      schema?.$ref ??
      (schema?.allOf as SchemaNode[] | undefined)?.[0]?.$ref ??
      (schema?.anyOf as SchemaNode[] | undefined)?.find((x) => x.$ref)?.$ref;
    return typeof ref === 'string' ? ref.replace('#/components/schemas/', '') : undefined;
  };
  const collect = (schema: SchemaNode | undefined, value: unknown): void => {
    if (!schema || value === null || value === undefined) return;
    if (Array.isArray(value)) {
      value.forEach((v) => collect(schema.items as SchemaNode | undefined, v));
      return;
    }
    const name = refName(schema);
    if (!name || typeof value !== 'object') return;
    const properties = (schemas[name]?.properties ?? {}) as Record<string, SchemaNode>;
    const values = seen.get(name) ?? new Map<string, unknown[]>();
    seen.set(name, values);
    for (const [property, propertySchema] of Object.entries(properties)) {
      const v = (value as Record<string, unknown>)[property];
      values.set(property, [...(values.get(property) ?? []), v]);
      collect(propertySchema, v);
    }
  };
  const isPlain = (v: unknown): boolean =>
    v !== null &&
    (typeof v !== 'object' ||
      (Array.isArray(v) && v.length > 0 && v.every((x) => x === null || typeof x !== 'object')));
  for (const item of Object.values(doc.paths)) {
    for (const operation of Object.values(item) as SchemaNode[]) {
      const sample = RECORDED_EXAMPLES[String(operation?.operationId)];
      const ok = (operation?.responses as Record<string, SchemaNode> | undefined)?.['200'];
      const media = (ok?.content as Record<string, SchemaNode> | undefined)?.['application/json'];
      if (!sample || !media) continue;
      media.example = sample;
      collect(media.schema as SchemaNode, sample);
    }
  }
  for (const [name, values] of seen) {
    const properties = (schemas[name]?.properties ?? {}) as Record<string, SchemaNode>;
    for (const [property, schema] of Object.entries(properties)) {
      if (schema.example !== undefined || refName(schema) !== undefined) continue;
      const example = values.get(property)?.find(isPlain);
      if (example !== undefined) schema.example = example;
    }
  }
  return doc;
}
