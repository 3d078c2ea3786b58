// The TypeScript SDK in sdk/, generated from openapi/openapi.json (npm run sdk). A test fails when it is stale.
export default {
  input: './openapi/openapi.json',
  // SDK_OUT: where the staleness test regenerates it, to compare with the committed one.
  output: { path: process.env.SDK_OUT ?? 'sdk', postProcess: [] },
  plugins: ['@hey-api/client-fetch', '@hey-api/typescript', { name: '@hey-api/sdk' }],
  logs: { file: false },
};
