/**
 * The output settings that make ClickHouse's JSON format carry every value
 * exactly, and which server versions know them. Both engines send them; the
 * http engine only those the server lists in system.settings, because 18.16
 * refuses an unknown setting (UNKNOWN_SETTING) instead of ignoring it.
 *
 *   output_format_json_quote_64bit_integers   1: 64-bit (and wider) integers as strings.
 *                                                 Default 1 up to 25.7, 0 from 25.8 and in chDB 26.x.
 *   output_format_json_quote_denormals        1: NaN and infinities as "nan"/"inf", not null.
 *                                                 Default 0 everywhere; present in 18.16.
 *   output_format_json_quote_decimals         1: decimals as strings. Absent in 18.16 (there
 *                                                 they arrive bare; result-json.ts reads them losslessly).
 *   output_format_json_named_tuples_as_objects 0: tuples as arrays, as 18.16 writes them.
 *                                                 Default 1 in current releases.
 */

export const EXACT_OUTPUT_SETTINGS: Readonly<Record<string, number>> = {
  output_format_json_quote_64bit_integers: 1,
  output_format_json_quote_denormals: 1,
  output_format_json_quote_decimals: 1,
  output_format_json_named_tuples_as_objects: 0,
};

export const OUTPUT_SETTING_NAMES: readonly string[] = Object.keys(EXACT_OUTPUT_SETTINGS);

/** The subset a server knows (`known`: names from its system.settings). */
export function exactOutputSettings(known: ReadonlySet<string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(EXACT_OUTPUT_SETTINGS)) if (known.has(name)) out[name] = value;
  return out;
}
