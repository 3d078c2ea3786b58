import path from 'node:path';

/**
 * The spec-related files live together in the top-level openapi/ folder: the checked-in document, the recorded
 * examples it shows, the SDK generator's and the linter's configuration. (From src/openapi or dist/openapi alike.)
 */
export const OPENAPI_DIR = path.resolve(__dirname, '..', '..', 'openapi');
export const OPENAPI_FILE = path.join(OPENAPI_DIR, 'openapi.json');
export const EXAMPLES_FILE = path.join(OPENAPI_DIR, 'examples.json');
