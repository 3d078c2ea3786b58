/** Names of what global setup hands to the test files (through process.env, the one channel jest offers). */
export const TEST_ENV = {
  adminUrl: 'PGSCOPE_TEST_ADMIN_URL',
  monitorPassword: 'PGSCOPE_TEST_MONITOR_PASSWORD',
  serverVersionNum: 'PGSCOPE_TEST_SERVER_VERSION_NUM',
  monitorRole: 'pgscope_monitor',
} as const;
