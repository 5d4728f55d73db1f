/**
 * Fields of the JSON records stored as text, read in SQL with regular expressions (schema.ts,
 * queries.ts and functions.ts build the same expressions from here).
 */

/**
 * A string field of a record's JSON (`data`) as its JSON text (`"run-7"`, escapes kept), or NULL
 * when the field is null. JSON text, because it never holds a NUL byte, which Postgres text
 * cannot; compare it with `JSON.stringify(value)`. Read with a pattern, not `::json`: Postgres's
 * JSON functions refuse a document holding \u0000 anywhere. The first `"field":` is the record's
 * own: every quote inside a string is escaped, and these records nest no object with such keys.
 * Queries must use the same expression as the index, so both are built here.
 */
export function jsonString(field: string, column = 'data'): string {
  return String.raw`substring(${column} from '"${field}":("(?:[^"\\]|\\.)*")')`;
}

/** A number field of a record's JSON, as numeric; NULL when the field is null. See jsonString. */
export function jsonNumber(field: string, column = 'data'): string {
  return `substring(${column} from '"${field}":(-?[0-9.eE+-]+)')::numeric`;
}
