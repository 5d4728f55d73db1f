// GSM 03.38: the default alphabet (one septet each), in code order 0x00–0x7F, 16 a row; 0x1B is
// the escape to the extension table, not text. Only capital Ç is in it (0x09), not ç.
const GSM_BASIC = new Set(
  [
    '@£$¥èéùìòÇ\nØø\rÅå',
    'Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ',
    ' !"#¤%&\'()*+,-./',
    '0123456789:;<=>?',
    '¡ABCDEFGHIJKLMNO',
    'PQRSTUVWXYZÄÖÑÜ§',
    '¿abcdefghijklmno',
    'pqrstuvwxyzäöñüà',
  ].join(''),
);
// The extension table: an escape plus one septet each.
const GSM_EXTENSION = new Set('\f^{}\\[~]|€');

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SegmentCount {
  encoding: SmsEncoding;
  /** How many SMS the body is sent (and billed) as: an empty body is one message. */
  segments: number;
}

/**
 * How many SMS segments a body takes. GSM-7 when every character is in the GSM alphabet: 160
 * septets in one SMS, 153 per part when concatenated. Otherwise UCS-2: 70 UTF-16 units, 67 per
 * part. A part never splits an extension character (escape + char) or a surrogate pair, so a
 * character that does not fit starts the next part. (Core's `countSmsSegments` must agree: its
 * test runs both against one table.)
 */
export function countSegments(body: string): SegmentCount {
  const chars = [...body];
  const gsm = chars.every((c) => GSM_BASIC.has(c) || GSM_EXTENSION.has(c));
  const encoding: SmsEncoding = gsm ? 'GSM-7' : 'UCS-2';
  const size = (c: string): number => (gsm ? (GSM_EXTENSION.has(c) ? 2 : 1) : c.length);
  const total = chars.reduce((sum, c) => sum + size(c), 0);
  if (total <= (gsm ? 160 : 70)) return { encoding, segments: 1 };
  const part = gsm ? 153 : 67;
  let segments = 1;
  let room = part;
  for (const c of chars) {
    if (size(c) > room) {
      segments += 1;
      room = part;
    }
    room -= size(c);
  }
  return { encoding, segments };
}
