export { type ConformanceOptions, describeStoreConformance, type StoreFactory } from './conformance.ts';
export { FakeClock } from './fake-clock.ts';
