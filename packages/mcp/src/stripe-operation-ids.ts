/**
 * Stripe's OpenAPI operation ids, as the remote Stripe MCP server's generic tools take them
 * (`stripe_api_write` with `stripe_api_operation_id: "PostRefunds"`), and the request each names.
 * An id cannot be turned into a path by splitting its words (`PostPaymentIntentsIntentCapture`
 * could be several paths), so this is a table, copied from Stripe's spec: the money-moving writes,
 * the writes around them, and the reads an agent needs. An id not in it is refused, not guessed.
 */
export interface StripeEndpoint {
  method: 'GET' | 'POST' | 'DELETE';
  /** The path as in the spec, with `{name}` segments filled from the call's parameters. */
  path: string;
}

const table: Record<string, StripeEndpoint> = Object.create(null);

function add(method: StripeEndpoint['method'], path: string, ...ids: string[]): void {
  for (const id of ids) table[id] = { method, path };
}

// Balance, account, events
add('GET', '/v1/balance', 'GetBalance');
add('GET', '/v1/balance_transactions', 'GetBalanceTransactions');
add('GET', '/v1/balance_transactions/{id}', 'GetBalanceTransactionsId');
add('GET', '/v1/account', 'GetAccount');
add('GET', '/v1/events', 'GetEvents');
add('GET', '/v1/events/{id}', 'GetEventsId');
// Charges (and their legacy refund endpoints, which move money)
add('GET', '/v1/charges', 'GetCharges');
add('POST', '/v1/charges', 'PostCharges');
add('GET', '/v1/charges/search', 'GetChargesSearch');
add('GET', '/v1/charges/{charge}', 'GetChargesCharge');
add('POST', '/v1/charges/{charge}', 'PostChargesCharge');
add('POST', '/v1/charges/{charge}/capture', 'PostChargesChargeCapture');
add('POST', '/v1/charges/{charge}/refund', 'PostChargesChargeRefund');
add('POST', '/v1/charges/{charge}/refunds', 'PostChargesChargeRefunds');
add('GET', '/v1/charges/{charge}/refunds', 'GetChargesChargeRefunds');
// Checkout
add('GET', '/v1/checkout/sessions', 'GetCheckoutSessions');
add('POST', '/v1/checkout/sessions', 'PostCheckoutSessions');
add('GET', '/v1/checkout/sessions/{session}', 'GetCheckoutSessionsSession');
add('POST', '/v1/checkout/sessions/{session}/expire', 'PostCheckoutSessionsSessionExpire');
// Coupons and promotion codes
add('GET', '/v1/coupons', 'GetCoupons');
add('POST', '/v1/coupons', 'PostCoupons');
add('GET', '/v1/coupons/{coupon}', 'GetCouponsCoupon');
add('POST', '/v1/coupons/{coupon}', 'PostCouponsCoupon');
add('DELETE', '/v1/coupons/{coupon}', 'DeleteCouponsCoupon');
add('GET', '/v1/promotion_codes', 'GetPromotionCodes');
add('POST', '/v1/promotion_codes', 'PostPromotionCodes');
// Credit notes
add('GET', '/v1/credit_notes', 'GetCreditNotes');
add('POST', '/v1/credit_notes', 'PostCreditNotes');
// Customers
add('GET', '/v1/customers', 'GetCustomers');
add('POST', '/v1/customers', 'PostCustomers');
add('GET', '/v1/customers/search', 'GetCustomersSearch');
add('GET', '/v1/customers/{customer}', 'GetCustomersCustomer');
add('POST', '/v1/customers/{customer}', 'PostCustomersCustomer');
add('DELETE', '/v1/customers/{customer}', 'DeleteCustomersCustomer');
add('POST', '/v1/customers/{customer}/balance_transactions', 'PostCustomersCustomerBalanceTransactions');
// Disputes
add('GET', '/v1/disputes', 'GetDisputes');
add('GET', '/v1/disputes/{dispute}', 'GetDisputesDispute');
add('POST', '/v1/disputes/{dispute}', 'PostDisputesDispute');
add('POST', '/v1/disputes/{dispute}/close', 'PostDisputesDisputeClose');
// Invoice items and invoices
add('GET', '/v1/invoiceitems', 'GetInvoiceitems');
add('POST', '/v1/invoiceitems', 'PostInvoiceitems');
add('GET', '/v1/invoiceitems/{invoiceitem}', 'GetInvoiceitemsInvoiceitem');
add('POST', '/v1/invoiceitems/{invoiceitem}', 'PostInvoiceitemsInvoiceitem');
add('DELETE', '/v1/invoiceitems/{invoiceitem}', 'DeleteInvoiceitemsInvoiceitem');
add('GET', '/v1/invoices', 'GetInvoices');
add('POST', '/v1/invoices', 'PostInvoices');
add('GET', '/v1/invoices/{invoice}', 'GetInvoicesInvoice');
add('POST', '/v1/invoices/{invoice}', 'PostInvoicesInvoice');
add('DELETE', '/v1/invoices/{invoice}', 'DeleteInvoicesInvoice');
add('POST', '/v1/invoices/{invoice}/finalize', 'PostInvoicesInvoiceFinalize');
add('POST', '/v1/invoices/{invoice}/mark_uncollectible', 'PostInvoicesInvoiceMarkUncollectible');
add('POST', '/v1/invoices/{invoice}/pay', 'PostInvoicesInvoicePay');
add('POST', '/v1/invoices/{invoice}/send', 'PostInvoicesInvoiceSend');
add('POST', '/v1/invoices/{invoice}/void', 'PostInvoicesInvoiceVoid');
// Payment intents
add('GET', '/v1/payment_intents', 'GetPaymentIntents');
add('POST', '/v1/payment_intents', 'PostPaymentIntents');
add('GET', '/v1/payment_intents/search', 'GetPaymentIntentsSearch');
add('GET', '/v1/payment_intents/{intent}', 'GetPaymentIntentsIntent');
add('POST', '/v1/payment_intents/{intent}', 'PostPaymentIntentsIntent');
add('POST', '/v1/payment_intents/{intent}/cancel', 'PostPaymentIntentsIntentCancel');
add('POST', '/v1/payment_intents/{intent}/capture', 'PostPaymentIntentsIntentCapture');
add('POST', '/v1/payment_intents/{intent}/confirm', 'PostPaymentIntentsIntentConfirm');
add(
  'POST',
  '/v1/payment_intents/{intent}/increment_authorization',
  'PostPaymentIntentsIntentIncrementAuthorization',
);
// Payment links
add('GET', '/v1/payment_links', 'GetPaymentLinks');
add('POST', '/v1/payment_links', 'PostPaymentLinks');
add('GET', '/v1/payment_links/{payment_link}', 'GetPaymentLinksPaymentLink');
add('POST', '/v1/payment_links/{payment_link}', 'PostPaymentLinksPaymentLink');
// Payment methods and setup intents
add('GET', '/v1/payment_methods', 'GetPaymentMethods');
add('POST', '/v1/payment_methods/{payment_method}/attach', 'PostPaymentMethodsPaymentMethodAttach');
add('POST', '/v1/payment_methods/{payment_method}/detach', 'PostPaymentMethodsPaymentMethodDetach');
add('POST', '/v1/setup_intents', 'PostSetupIntents');
add('POST', '/v1/setup_intents/{intent}/confirm', 'PostSetupIntentsIntentConfirm');
add('POST', '/v1/setup_intents/{intent}/cancel', 'PostSetupIntentsIntentCancel');
// Payouts, transfers, top-ups
add('GET', '/v1/payouts', 'GetPayouts');
add('POST', '/v1/payouts', 'PostPayouts');
add('POST', '/v1/payouts/{payout}/cancel', 'PostPayoutsPayoutCancel');
add('GET', '/v1/transfers', 'GetTransfers');
add('POST', '/v1/transfers', 'PostTransfers');
add('POST', '/v1/topups', 'PostTopups');
// Prices and products
add('GET', '/v1/prices', 'GetPrices');
add('POST', '/v1/prices', 'PostPrices');
add('GET', '/v1/prices/{price}', 'GetPricesPrice');
add('POST', '/v1/prices/{price}', 'PostPricesPrice');
add('GET', '/v1/products', 'GetProducts');
add('POST', '/v1/products', 'PostProducts');
add('GET', '/v1/products/{id}', 'GetProductsId');
add('POST', '/v1/products/{id}', 'PostProductsId');
add('DELETE', '/v1/products/{id}', 'DeleteProductsId');
// Refunds
add('GET', '/v1/refunds', 'GetRefunds');
add('POST', '/v1/refunds', 'PostRefunds');
add('GET', '/v1/refunds/{refund}', 'GetRefundsRefund');
add('POST', '/v1/refunds/{refund}', 'PostRefundsRefund');
add('POST', '/v1/refunds/{refund}/cancel', 'PostRefundsRefundCancel');
// Subscriptions
add('GET', '/v1/subscriptions', 'GetSubscriptions');
add('POST', '/v1/subscriptions', 'PostSubscriptions');
add('GET', '/v1/subscriptions/{subscription_exposed_id}', 'GetSubscriptionsSubscriptionExposedId');
add('POST', '/v1/subscriptions/{subscription_exposed_id}', 'PostSubscriptionsSubscriptionExposedId');
add('DELETE', '/v1/subscriptions/{subscription_exposed_id}', 'DeleteSubscriptionsSubscriptionExposedId');
add('POST', '/v1/subscriptions/{subscription}/resume', 'PostSubscriptionsSubscriptionResume');

/** The endpoint an operation id names; only the table's own entries count. */
export function stripeEndpoint(operationId: string): StripeEndpoint | undefined {
  return Object.hasOwn(table, operationId) ? table[operationId] : undefined;
}

/** Every operation id in the table (for tests and listings). */
export const STRIPE_OPERATION_IDS: readonly string[] = Object.keys(table);
