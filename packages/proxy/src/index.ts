export { openStore } from './open-store.ts';
export { DEFAULT_UPSTREAMS, PROXY_DEFAULTS, type ProxyOptions } from './options.ts';
export { createProxy, type Proxy, type RequestContext } from './proxy.ts';
export type { ProxyRefusalCode } from './refusals.ts';
export { type ServeOptions, serve } from './serve.ts';
export { type ServedProxy, type ServeProxyOptions, serveProxy } from './serve-proxy.ts';
