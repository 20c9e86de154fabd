/** The tests' throwaway PostgreSQL: it lives in scripts/dev/ (the benchmark uses it too); re-exported here. */
export { freePort, startEmbeddedPostgres } from '../../scripts/dev/embedded.js';
