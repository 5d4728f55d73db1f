// GSM 03.38: the default alphabet (one septet each) and its extension table (an escape plus one
// septet each). The escape character itself is not text.
const GSM_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM_EXTENSION = new Set('\f^{}\\[~]|€');

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SegmentCount {
  encoding: SmsEncoding;
  /** How many SMS the body is sent (and billed) as: 0 for an empty body. */
  segments: number;
}

/**
 * How many SMS segments a body takes. GSM-7 when every character is in the GSM alphabet: 160
 * septets in one SMS, 153 per part when concatenated (extension characters take two and are not
 * split). Otherwise UCS-2: 70 UTF-16 units, 67 per part (surrogate pairs are not split).
 */
export function countSegments(body: string): SegmentCount {
  const chars = [...body];
  const gsm = chars.every((c) => GSM_BASIC.has(c) || GSM_EXTENSION.has(c));
  const units = chars.map((c) => (gsm ? (GSM_EXTENSION.has(c) ? 2 : 1) : c.length));
  const [single, part] = gsm ? [160, 153] : [70, 67];
  const encoding: SmsEncoding = gsm ? 'GSM-7' : 'UCS-2';
  const total = units.reduce((sum, u) => sum + u, 0);
  if (total === 0) return { encoding, segments: 0 };
  if (total <= single) return { encoding, segments: 1 };
  let segments = 1;
  let used = 0;
  for (const u of units) {
    if (used + u > part) {
      segments += 1;
      used = 0;
    }
    used += u;
  }
  return { encoding, segments };
}
