// The tests' PostgreSQL is the one the bench starts too: a private server in a temp dir.
export {
  startPrivatePostgres as startTestPostgres,
  type PrivatePostgres as TestPostgres,
} from '../../scripts/lib/private-postgres.js';
