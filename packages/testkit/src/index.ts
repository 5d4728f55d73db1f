export type { RequestRecord } from './engine.ts';
export type { FakeVendor } from './fake-vendor.ts';
export {
  type CommonFault,
  DEFAULT_TIMEOUT_FAULT_MS,
  type EchoEncoding,
  type FaultKind,
  type FaultRequest,
  Faults,
  type InjectOptions,
  type StripeFault,
} from './faults.ts';
export type { FormParams, FormValue } from './form.ts';
export type { FakeServer, ListenOptions } from './http-server.ts';
export {
  createFakeResend,
  type FakeResend,
  type FakeResendOptions,
  RESEND_ORIGIN,
} from './resend/fake-resend.ts';
export { ResendLedger, type ResendRequestRecord, type SentEmail } from './resend/resend-ledger.ts';
export {
  createFakeStripe,
  type FakeStripe,
  type FakeStripeOptions,
  STRIPE_ORIGIN,
} from './stripe/fake-stripe.ts';
export type { SeedInvoice } from './stripe/stripe-api.ts';
export type { StripeErrorBody, StripeErrorType } from './stripe/stripe-errors.ts';
export {
  type MoneyMovement,
  type MovementKind,
  StripeLedger,
  type StripeObject,
  type StripeRequestRecord,
} from './stripe/stripe-ledger.ts';
export {
  createFakeTwilio,
  type FakeTwilio,
  type FakeTwilioOptions,
  TWILIO_ORIGIN,
} from './twilio/fake-twilio.ts';
export { countSegments, type SegmentCount, type SmsEncoding } from './twilio/segments.ts';
export {
  type SentMessage,
  TwilioLedger,
  type TwilioParams,
  type TwilioRequestRecord,
} from './twilio/twilio-ledger.ts';
