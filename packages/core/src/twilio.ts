/** `@spendguard/core/twilio`: a governed Twilio client. Needs the `twilio` package. */
export { createGovernedTwilio, type GovernedTwilioOptions } from './clients/governed-twilio.ts';
