import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import { createApp, documentOf } from '../app.setup';
import { loadEnv } from '../config/env';
import { OPENAPI_FILE } from './files';

/** Renders the OpenAPI document without a database: the pool connects lazily and is never used here. */
export async function renderOpenApi(): Promise<string> {
  const env = loadEnv({ DATABASE_URL: 'postgres://openapi@127.0.0.1:1/none', HISTORY: 'off' });
  const app = await createApp(env);
  await app.init();
  const json = `${JSON.stringify(documentOf(app), null, 2)}\n`;
  await app.close();
  return json;
}

if (require.main === module) {
  void renderOpenApi().then((json) => {
    fs.writeFileSync(OPENAPI_FILE, json);
    console.log(`wrote ${path.relative(process.cwd(), OPENAPI_FILE)}`);
  });
}
