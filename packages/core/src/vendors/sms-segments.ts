/**
 * The GSM 03.38 default alphabet (one septet each), in code order 0x00–0x7F, a row of 16 at a
 * time. 0x1B is the escape to the extension table, not a character, so its row has 15. Only the
 * capital Ç is in it (0x09): a lowercase ç makes a body UCS-2.
 */
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
/** The GSM extension table: two septets each (the escape, then the char). */
const GSM_EXTENSION = new Set('\f^{}\\[~]|€');

export interface SmsSegments {
  encoding: 'GSM-7' | 'UCS-2';
  segments: number;
}

/**
 * How many segments Twilio sends (and bills) an SMS body as. GSM-7 when every character is in
 * the GSM alphabet: 160 septets fit one SMS, and a longer body is cut into parts of 153. Otherwise
 * UCS-2: 70 UTF-16 units, parts of 67. A part never splits an escape sequence (€ is escape + char)
 * or a surrogate pair (an emoji is two units), so parts are filled greedily, one whole character
 * at a time, and may hold one unit less than their size. An empty body is one segment: a message
 * with no text (a media-only MMS) still goes out as one message.
 */
export function countSmsSegments(body: string): SmsSegments {
  const chars = [...body]; // code points: a surrogate pair stays whole
  const gsm = chars.every((char) => GSM_BASIC.has(char) || GSM_EXTENSION.has(char));
  const sizes = chars.map((char) => (gsm ? (GSM_EXTENSION.has(char) ? 2 : 1) : char.length));
  const [single, part] = gsm ? [160, 153] : [70, 67];
  const encoding = gsm ? 'GSM-7' : 'UCS-2';
  if (sizes.reduce((sum, size) => sum + size, 0) <= single) return { encoding, segments: 1 };
  let segments = 1;
  let used = 0;
  for (const size of sizes) {
    if (used + size > part) {
      segments += 1;
      used = 0;
    }
    used += size;
  }
  return { encoding, segments };
}
