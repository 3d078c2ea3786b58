/** Every monitoring endpoint lives under this path. */
export const API_BASE = 'api/db/monitoring/postgres';
