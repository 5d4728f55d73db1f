export { type AdminApi, type AdminApiOptions, createAdminApi } from './admin-api.ts';
export type { AdminErrorCode } from './admin-error.ts';
export { ADMIN_TOKEN_MIN_LENGTH, type AdminTokenSource } from './admin-token.ts';
export { type ServeAdminOptions, type ServedAdmin, serveAdmin } from './serve-admin.ts';
