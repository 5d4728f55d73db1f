/** What every form of a secret is replaced with. */
export const REDACTED = '[redacted]';

/**
 * Secrets shorter than this are ignored: a short value (`1234`, `secret`) is too likely to match
 * innocent text, and redacting it there would garble messages without protecting much.
 */
export const MIN_SECRET_LENGTH = 8;

/**
 * Replaces secrets with `[redacted]` in every form a vendor or a library might echo them in:
 * - raw;
 * - URL-encoded: `encodeURIComponent`, form encoding (`+` for a space), and both with lower-case hex;
 * - base64 (and base64url) of the secret alone, and inside anything else, such as the Basic-auth
 *   pair `user:secret` for any user (see `base64Forms`);
 * - each of those as it appears inside a JSON string (`\"`, `\\`, `\/`, `\u00e9` escapes), and
 *   inside a JSON string nested in another (a JSON body stored in a JSON record).
 *
 * The forms are computed once per secret, so `redact` is a few `indexOf` scans per form.
 */
export class Redactor {
  readonly #secrets = new Set<string>();
  readonly #forms = new Set<string>();

  /** Empty, undefined and too-short secrets are skipped, so callers can pass optional values. */
  constructor(secrets: Iterable<string | undefined> = []) {
    for (const secret of secrets) this.add(secret);
  }

  add(secret: string | undefined): void {
    if (secret === undefined || secret.length < MIN_SECRET_LENGTH || this.#secrets.has(secret)) return;
    this.#secrets.add(secret);
    for (const form of formsOf(secret)) this.#forms.add(form);
  }

  redact(text: string): string {
    const hidden = new Uint8Array(text.length);
    if (!this.#hide(text, hidden, (i) => i)) return text;
    for (;;) {
      const { output, originOf } = render(text, hidden);
      // A marker and the text beside it can spell a form again (a secret starting with `d]`):
      // hide those characters too. Each round hides more of the text, so this ends.
      if (!this.#hide(output, hidden, originOf)) return output;
    }
  }

  /**
   * Marks in `hidden` the original characters under every occurrence of a form in `text`
   * (`originOf` maps a position of `text` to one in the original, or -1 inside a marker).
   * Returns whether anything new was hidden.
   */
  #hide(text: string, hidden: Uint8Array, originOf: (i: number) => number): boolean {
    let grew = false;
    for (const form of this.#forms) {
      for (let at = text.indexOf(form); at !== -1; at = text.indexOf(form, at + 1)) {
        for (let i = at; i < at + form.length; i++) {
          const original = originOf(i);
          if (original >= 0 && hidden[original] === 0) {
            hidden[original] = 1;
            grew = true;
          }
        }
      }
    }
    return grew;
  }
}

/**
 * The text with each run of hidden characters replaced by one marker, and the map from a position
 * in the output back to one in the text (-1 inside a marker).
 */
function render(text: string, hidden: Uint8Array): { output: string; originOf: (i: number) => number } {
  const parts: string[] = [];
  const starts: number[] = []; // where each part starts in the output
  const sources: number[] = []; // where it starts in the text; -1 for a marker
  let length = 0;
  for (let start = 0; start < text.length; ) {
    const hide = hidden[start] === 1;
    const next = hidden.indexOf(hide ? 0 : 1, start);
    const end = next === -1 ? text.length : next;
    const part = hide ? REDACTED : text.slice(start, end);
    parts.push(part);
    starts.push(length);
    sources.push(hide ? -1 : start);
    length += part.length;
    start = end;
  }
  const originOf = (i: number): number => {
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((starts[middle] as number) <= i) low = middle;
      else high = middle - 1;
    }
    const source = sources[low] as number;
    return source === -1 ? -1 : source + i - (starts[low] as number);
  };
  return { output: parts.join(''), originOf };
}

function formsOf(secret: string): Set<string> {
  const encoded = [secret, ...urlForms(secret), ...base64Forms(secret)];
  const forms = new Set<string>();
  for (const text of encoded) {
    forms.add(text);
    for (const escaped of jsonForms(text)) forms.add(escaped);
  }
  return forms;
}

function urlForms(secret: string): string[] {
  const forms = [new URLSearchParams([['', secret]]).toString().slice(1)];
  try {
    forms.push(encodeURIComponent(secret));
  } catch {
    // A lone surrogate: encodeURIComponent refuses it, and no vendor could have sent it so.
  }
  return forms.flatMap((form) => [form, form.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase())]);
}

/**
 * Base64 of the secret alone, and the secret as it appears inside the base64 of anything else
 * (`user:secret`, `secret:`). Base64 turns each 3 bytes into 4 characters, so a secret starting at
 * byte offset 0, 1 or 2 (mod 3) of a longer text is always one of 3 character strings: the
 * characters made only of the secret's bits, found by encoding it after 0, 1 or 2 filler bytes
 * and dropping the partial characters at both ends. The few bits in those partial characters
 * stay visible; the secret does not.
 */
function base64Forms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const forms = [bytes.toString('base64')];
  for (const shift of [0, 1, 2]) {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    const first = Math.ceil((8 * shift) / 6);
    const end = Math.floor((8 * (shift + bytes.length)) / 6);
    forms.push(encoded.slice(first, end));
  }
  return forms.flatMap((form) => [form, form.replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')]);
}

/**
 * `text` as it appears inside a JSON string: as `JSON.stringify` writes it, with `/` escaped as
 * `\/` (PHP), with everything outside printable ASCII and `<>&'` as `\uXXXX` (Python, Go, Rails),
 * and each of those nested once more inside another JSON string.
 */
function jsonForms(text: string): string[] {
  const plain = JSON.stringify(text).slice(1, -1);
  const ascii = plain.replace(
    /[^\x20-\x7e]|[<>&']/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  const once = [plain, ascii].flatMap((form) => [form, form.replaceAll('/', '\\/')]);
  return [...once, ...once.map((form) => JSON.stringify(form).slice(1, -1))];
}
