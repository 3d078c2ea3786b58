/** Every monitoring endpoint of a watched server lives under this path. */
export const API_BASE = 'api/db/monitoring/postgres';

/** What is not about one server (the targets, later the instances) lives beside it. */
export const API_ROOT = 'api/db/monitoring';
