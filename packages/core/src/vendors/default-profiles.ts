import { resendProfile } from './resend-profile.ts';
import { stripeProfile } from './stripe-profile.ts';
import { twilioProfile } from './twilio-profile.ts';
import type { VendorProfile } from './vendor-profile.ts';

/** The vendors a guard knows unless told otherwise. */
export const DEFAULT_PROFILES: readonly VendorProfile[] = [stripeProfile, twilioProfile, resendProfile];
