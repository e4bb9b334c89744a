/**
 * What the two databases have in common, as the store needs it: statements with `$1`-style parameters
 * (both SQLite and PostgreSQL read them), and transactions. The store's SQL is written once, against this.
 */
export interface Queries {
  /** Runs one statement; the rows it returns (none for a statement without RETURNING). */
  all<R extends object>(what: string, sql: string, values?: unknown[]): Promise<R[]>;
}

export interface SqlDriver extends Queries {
  /** Where the data lives, for messages: a file path, or the database URL without its password. */
  readonly location: string;
  /**
   * Runs `work` as one transaction: nothing else on this store interleaves with it, and it is all or
   * nothing. `lockKey` (PostgreSQL) also serialises it with every transaction of the same key on any replica.
   */
  transaction<T>(what: string, work: (tx: Queries) => Promise<T>, lockKey?: string): Promise<T>;
  close(): Promise<void>;
}
