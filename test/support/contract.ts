import Ajv2020, { ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import fs from 'node:fs';
import { OPENAPI_FILE } from '../../src/openapi/files';

/**
 * Every response an e2e spec receives through the harness is checked against what openapi.json declares for that
 * route and status: an undocumented status, a missing field, a field the document lacks (objects are closed here),
 * a wrong type or nullability fails the spec. The document is OpenAPI 3.1, whose schemas are JSON Schema 2020-12:
 * they are validated with those semantics as they stand (only `$ref`s are pointed at the copy here, and objects
 * closed). Nothing is loosened: a keyword JSON Schema does not know (such as 3.0's `nullable`) fails compilation.
 */
type Schema = Record<string, unknown>;

const document = JSON.parse(fs.readFileSync(OPENAPI_FILE, 'utf8')) as {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: Record<string, { schema: Schema }> }> }>
  >;
  components: { schemas: Record<string, Schema> };
};

/** The document's schema as JSON Schema 2020-12: refs into $defs, objects closed. */
function convert(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(convert);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema as Schema)) {
    // Ajv would honour 3.0's `nullable` (with 3.0's semantics, which never reach into allOf): not in a 3.1 document.
    if (key === 'nullable') throw new Error('openapi.json uses `nullable`, which OpenAPI 3.1 does not have');
    if (key === '$ref' && typeof value === 'string')
      out.$ref = value.replace('#/components/schemas/', 'openapi#/$defs/');
    else if (key === 'properties') {
      out.properties = Object.fromEntries(Object.entries(value as Schema).map(([k, v]) => [k, convert(v)]));
    } else out[key] = convert(value);
  }
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

if (!String((document as { openapi?: string }).openapi).startsWith('3.1.')) {
  throw new Error('openapi.json is not OpenAPI 3.1: its schemas cannot be validated as JSON Schema 2020-12');
}
const ajv = new Ajv2020({ strict: true, allErrors: true, strictRequired: false });
addFormats(ajv);
// OpenAPI 3.1's own annotation keyword and format; they constrain nothing else.
ajv.addKeyword({ keyword: 'example' });
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
