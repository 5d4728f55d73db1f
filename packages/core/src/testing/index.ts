export {
  type ConformanceOptions,
  chargeAudit,
  describeStoreConformance,
  type StoreFactory,
} from './conformance.ts';
export { FakeClock } from './fake-clock.ts';
