export { AWKWARD_NUMBERS } from './awkward-numbers.ts';
export {
  type ConformanceOptions,
  chargeAudit,
  describeStoreConformance,
  type StoreFactory,
} from './conformance.ts';
export { FakeClock } from './fake-clock.ts';
export { testKeyRecord } from './key-record.ts';
export {
  BEGIN_BRANCHES,
  type Branch,
  beginBranch,
  FINISH_BRANCHES,
  finishBranch,
} from './state-tx-branches.ts';
