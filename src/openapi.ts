import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import { buildOpenApiDocument, createApp } from './app.setup';
import { loadEnv } from './config/env';

/** Renders the OpenAPI document without a database: the pool connects lazily and is never used here. */
export async function renderOpenApi(): Promise<string> {
  const env = loadEnv({ DATABASE_URL: 'postgres://openapi@127.0.0.1:1/none' });
  const app = await createApp(env);
  await app.init();
  const json = `${JSON.stringify(buildOpenApiDocument(app), null, 2)}\n`;
  await app.close();
  return json;
}

if (require.main === module) {
  void renderOpenApi().then((json) => {
    const out = path.resolve(__dirname, '..', 'openapi.json');
    fs.writeFileSync(out, json);
    console.log(`wrote ${path.relative(process.cwd(), out)}`);
  });
}
