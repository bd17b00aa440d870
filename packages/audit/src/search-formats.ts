/**
 * The output formats' names, apart from format.ts: the CLI checks a `--format` word with them,
 * and a raw search, which prints log bytes as they are, never loads the formatters (format.ts
 * and the interpreter, normalizer, csv and JSON modules it imports).
 */
export type SearchFormat = 'raw' | 'interpret' | 'text' | 'csv' | 'json' | 'ecs';
export const SEARCH_FORMATS: readonly SearchFormat[] = ['raw', 'interpret', 'text', 'csv', 'json', 'ecs'];
