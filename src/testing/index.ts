/**
 * Test support for users of aof and for its own suites: file-system adapters
 * that count or fail calls. Import from `aof/testing`.
 *
 * @packageDocumentation
 */
export { CountingFs } from './counting-fs.js';
