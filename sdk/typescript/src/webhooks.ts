/**
 * Verifying the messages Switchyard's webhooks send (Standard Webhooks:
 * `webhook-id`, `webhook-timestamp`, `webhook-signature`). Delegates to the
 * `standardwebhooks` package, a peer dependency of this entry point only.
 */
import { Webhook } from "standardwebhooks";

/** The headers of a received message, as a plain object or `Headers`. */
export type WebhookHeaders = Record<string, string | string[] | undefined> | Headers;

function plain(h: WebhookHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof (h as Headers).get === "function") {
    for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
      const v = (h as Headers).get(name);
      if (v !== null) out[name] = v;
    }
    return out;
  }
  for (const [k, v] of Object.entries(h)) {
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}

/**
 * Checks a message against the webhook's `whsec_…` secret and returns its
 * parsed body; throws when the signature or timestamp (±5 minutes) is wrong.
 * `payload` must be the raw body, exactly as received.
 */
export function verifyWebhook<T = Record<string, unknown>>(payload: string, headers: WebhookHeaders, secret: string): T {
  return new Webhook(secret).verify(payload, plain(headers)) as T;
}
