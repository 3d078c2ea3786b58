export default async function globalTeardown(): Promise<void> {
  await globalThis.__PGSCOPE_TEST_SERVER__?.stop();
  globalThis.__PGSCOPE_TEST_SERVER__ = undefined;
}
