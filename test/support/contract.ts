import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Every response an e2e spec receives through the harness is checked against what openapi.json declares for that
 * route and status: an undocumented status, a missing field, a field the document lacks (objects are closed here),
 * a wrong type or nullability fails the spec.
 */
type Schema = Record<string, unknown>;

const document = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'openapi.json'), 'utf8')) as {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: Record<string, { schema: Schema }> }> }>
  >;
  components: { schemas: Record<string, Schema> };
};

/** OpenAPI 3.0 schema → JSON Schema: nullable as a null alternative, refs into $defs, objects closed. */
function convert(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(convert);
  if (!schema || typeof schema !== 'object') return schema;
  const { nullable, example: _example, ...rest } = schema as Schema & { nullable?: boolean; example?: unknown };
  const out: Schema = {};
  for (const [key, value] of Object.entries(rest)) {
    if (key === '$ref' && typeof value === 'string')
      out.$ref = value.replace('#/components/schemas/', 'openapi#/$defs/');
    else if (key === 'properties') {
      out.properties = Object.fromEntries(Object.entries(value as Schema).map(([k, v]) => [k, convert(v)]));
    } else out[key] = convert(value);
  }
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  if (nullable) {
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

const ajv = new Ajv({ strict: true, allErrors: true, strictRequired: false });
addFormats(ajv);
ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
ajv.addSchema({
  $id: 'openapi',
  $defs: Object.fromEntries(Object.entries(document.components.schemas).map(([k, v]) => [k, convert(v)])),
});
const validators = new Map<string, ValidateFunction>();

export function assertMatchesContract(
  method: string,
  url: string,
  status: number,
  contentType: string,
  body: unknown,
): void {
  const route = url.split('?')[0].replace(/\/+$/, '') || '/';
  const operation = document.paths[route]?.[method.toLowerCase()];
  if (!operation) return; // not part of the API (Swagger UI, unknown routes answered by the 404 handler)
  if (status === 304) return;
  const response = operation.responses[String(status)];
  if (!response) throw new Error(`${method} ${route} answered ${status}, which openapi.json does not declare`);
  const mediaType = contentType.split(';')[0].trim();
  const declared = response.content?.[mediaType];
  if (!declared) {
    throw new Error(
      `${method} ${route} ${status} answered ${mediaType}; openapi.json declares ${Object.keys(response.content ?? {})}`,
    );
  }
  const key = `${method} ${route} ${status} ${mediaType}`;
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile(convert(declared.schema) as Schema);
    validators.set(key, validate);
  }
  if (!validate(body)) {
    throw new Error(
      `${key}: the body does not match openapi.json: ${ajv.errorsText(validate.errors, { separator: '\n  ' })}`,
    );
  }
}
